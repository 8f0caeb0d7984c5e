"""Exact resume: a run killed with SIGKILL and resumed ends with bit-identical weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from isicseg import read_checkpoint
from isicseg.engine import save_checkpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = Path(__file__).with_name("train_script.py")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_kill_9_then_resume_gives_identical_weights(synthetic_root, tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    finished = run(str(synthetic_root), str(whole), "3")
    assert finished.returncode == 0, finished.stderr[-2000:]

    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(synthetic_root), str(broken), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    last = broken / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert last.exists(), "the run never wrote last.pt"
    os.kill(process.pid, signal.SIGKILL)  # somewhere in epoch 2, or while writing a checkpoint
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (broken / "final.pt").exists()
    epoch_done = read_checkpoint(last).epoch
    assert epoch_done < 2

    resumed = run(str(synthetic_root), str(broken), "3", str(last))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(whole / "final.pt", weights_only=True)
    b = torch.load(broken / "final.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

    # the resumed run's history and best checkpoint match too
    def history(folder):  # every number of every epoch, but its wall-clock time
        return [
            {k: v for k, v in row.items() if k not in ("epoch_seconds", "val_seconds")}
            for row in json.loads((folder / "history.json").read_text())
        ]

    assert len(history(whole)) == 3 and history(whole) == history(broken)
    assert read_checkpoint(whole / "best.pt").epoch == read_checkpoint(broken / "best.pt").epoch


WRITER = """
import sys, torch
from isicseg.engine import save_checkpoint
i = 0
while True:
    i += 1
    save_checkpoint({"model": {"w": torch.full((4_000_000,), float(i))}, "i": i}, sys.argv[1])
    print(i, flush=True)
"""


def test_atomic_write_survives_kill(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"model": {"w": torch.zeros(4_000_000)}, "i": 0}, path)
    for delay in (0.3, 0.5, 0.8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        writer.stdout.readline()  # at least one write completed
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        checkpoint = read_checkpoint(path).contents  # never a torn file
        assert torch.equal(checkpoint["model"]["w"], torch.full((4_000_000,), float(checkpoint["i"])))
    assert len(list(tmp_path.glob(".ckpt.pt.*.tmp"))) <= 1  # stale temporaries are cleaned by the next write


def test_read_checkpoint_errors(tmp_path):
    from isicseg.exceptions import WeightsError, WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match=r"Weight file .*none.pt does not exist; expected a .pth state dict"):
        read_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(WeightsError, match=r"x.pt holds dict, not a state dict; expected .* with a 'model' entry"):
        read_checkpoint(tmp_path / "x.pt")
