"""Ctrl-C during training: one line that says what was saved and how to go on, and the resumed run ends where an uninterrupted one does."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from isicseg.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = [
    "--image-size",
    "64",
    "--backbone",
    "resnet18_fpn",
    "--pretrained",
    "none",
    "--proposals",
    "few",
    "--subset",
    "8",
    "--batch-size",
    "2",
    "--optimizer",
    "adamw",
    "--lr",
    "0.0005",
    "--warmup-steps",
    "1",
    "--val-split",
    "",
    "--eval-split",
    "",
]


@pytest.fixture(scope="module")
def whole(synthetic_root, tmp_path_factory):
    """The last.pt of an uninterrupted 3-epoch run."""
    out = tmp_path_factory.mktemp("whole")
    assert (
        main(["train", "--data", str(synthetic_root), "--out", str(out), "--name", "whole", "--epochs", "3", *TINY])
        == 0
    )
    saved = json.loads((out / "whole" / "config.json").read_text())["data"]
    assert saved["val_split"] is None and saved["eval_split"] is None  # "--val-split ''" means none
    assert not (out / "whole" / "evaluation").exists()
    return torch.load(out / "whole" / "last.pt", weights_only=True)


# SIGKILL at seeded random moments after the first checkpoint (inside an epoch, a
# validation or a checkpoint write): the same points on every run of the suite
KILL_DELAYS = [round(random.Random(seed).uniform(0.0, 1.5), 2) for seed in (0, 1)]


@pytest.mark.parametrize("sig, delay", [(signal.SIGINT, 0.0), *((signal.SIGKILL, d) for d in KILL_DELAYS)])
def test_interrupted_run_resumes_to_the_uninterrupted_result(synthetic_root, tmp_path, whole, sig, delay):
    command = [
        sys.executable,
        "-m",
        "isicseg.cli",
        "train",
        "--data",
        str(synthetic_root),
        "--out",
        str(tmp_path),
        "--name",
        "cut",
        "--epochs",
        "3",
        *TINY,
    ]
    # a child of a background job inherits an ignored SIGINT (and Python then installs no
    # KeyboardInterrupt handler): give it the default disposition, as a terminal would
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    last = tmp_path / "cut" / "last.pt"
    deadline = time.monotonic() + 600
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    if sig == signal.SIGINT:
        assert process.returncode == 130, err[-2000:]
        assert "Traceback" not in err
        line = [text for text in err.splitlines() if "interrupted" in text]
        assert len(line) == 1 and f"{last} holds the run after epoch " in line[0]
        assert f"continue it with: isicseg train --out {tmp_path} --name cut --resume" in line[0]
    else:
        assert process.returncode == -signal.SIGKILL

    assert main(["train", "--out", str(tmp_path), "--name", "cut", "--resume"]) == 0
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == whole["epoch"] == 2
    for key, value in whole["model"].items():
        assert torch.equal(resumed["model"][key], value), key  # bit-identical on CPU
    rows = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert not list((tmp_path / "cut").glob(".last.pt.*.tmp"))


def test_interrupt_outside_training_says_so(monkeypatch, capsys, tmp_path):
    from isicseg import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_check", interrupted)
    assert main(["check", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "isicseg check: interrupted. Run the command again to finish it."
    monkeypatch.setattr(cli, "_cmd_predict", interrupted)
    assert main(["predict", "w.pt", str(tmp_path), "--out", str(tmp_path / "out")]) == 130
    assert (
        capsys.readouterr().err.strip()
        == f"isicseg predict: interrupted. Earlier results in {tmp_path / 'out'} are as they were; no new result was kept."
    )


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler, as in a terminal (pytest started by a background job inherits an ignored SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ctrl_c_while_a_checkpoint_is_written_is_a_ctrl_c_and_the_file_is_whole(
    monkeypatch, tmp_path, seed, python_ctrl_c
):
    import os

    import isicseg.engine.checkpoint as checkpoint
    from isicseg import read_checkpoint

    state = {"model": {"w": torch.arange(200_000.0), "b": torch.ones(3)}, "epoch": 3}
    at = random.Random(seed).randrange(1, 800_000)  # a seeded moment: after this many bytes of the file
    real_save = torch.save

    class CtrlCAfter:
        """A stream that gets Ctrl-C once ``at`` bytes went through it, as a user's key press would arrive."""

        def __init__(self, stream):
            self.stream, self.written = stream, 0

        def write(self, data):
            before, self.written = self.written, self.written + len(data)
            if before < at <= self.written:
                os.kill(os.getpid(), signal.SIGINT)
            return self.stream.write(data)

        def flush(self):
            return self.stream.flush()

    monkeypatch.setattr(checkpoint.torch, "save", lambda obj, stream: real_save(obj, CtrlCAfter(stream)))
    path = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(state, path)
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    loaded = read_checkpoint(path).contents  # complete, checksum intact
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and loaded["epoch"] == 3
    assert not list(tmp_path.glob(".last.pt.*.tmp"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_before_the_first_epoch_says_nothing_was_saved(monkeypatch, capsys, tmp_path):
    from isicseg import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_train", interrupted)
    assert main(["train", "--out", str(tmp_path), "--name", "r"]) == 130
    assert (
        capsys.readouterr().err.strip()
        == "isicseg train: interrupted. No epoch had finished, so nothing was saved; start the run again."
    )
