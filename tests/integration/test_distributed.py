"""Two gloo processes under torchrun agree with one process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from isicseg import ISIC2017Dataset
from isicseg.engine import Trainer, TrainerConfig

from ..helpers import tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = Path(__file__).with_name("ddp_script.py")


def test_two_gloo_processes_match_one_process(synthetic_root, tmp_path):
    model = tiny_model()
    weights = tmp_path / "weights.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, weights)
    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64)
    single = Trainer(TrainerConfig(device="cpu", eval_batch_size=3)).validate(model, val)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun writes its logs there
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(SCRIPT),
        str(synthetic_root),
        str(weights),
        str(tmp_path),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in results] == [2, 2]
    for result in results:
        assert result["metrics"].keys() == single.keys()
        for key, value in single.items():
            if key == "val_seconds":  # wall clock, differs per process
                continue
            other = result["metrics"][key]
            assert (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value, rel=1e-5, abs=1e-6), key
    # both ranks stopped at the same epoch (the stop decision is shared) and only rank 0 wrote files,
    # which were complete when fit returned on either rank
    assert results[0]["epochs_run"] == results[1]["epochs_run"] == 2
    files = ["config.json", "history.csv", "history.json", "last.pt", "loss_curve.png"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == files
    assert [r["files_after_fit"] for r in results] == [files, files]
    assert [r["wrapper_released"] for r in results] == [True, True]


@pytest.mark.parametrize("mode", ["skip", "raise"])
def test_nonfinite_loss_on_one_rank_is_decided_by_all(synthetic_root, tmp_path, mode):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}  # torchrun writes its logs there
    script = Path(__file__).with_name("ddp_nonfinite_script.py")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(synthetic_root),
        str(tmp_path),
        mode,
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)  # a hang would time out
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = [json.loads((tmp_path / f"{mode}{r}.json").read_text()) for r in (0, 1)]
    if mode == "skip":
        assert results[0] == results[1] == {"skipped": 1, "steps": 1}  # 2 batches per rank, the first skipped by both
    else:
        assert "Loss is nan at step 0" in results[1]["raised"]
        assert "Loss is not finite on another process at step 0" in results[0]["raised"]
