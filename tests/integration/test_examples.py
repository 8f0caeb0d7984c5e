"""examples/finetune.py runs end to end on a tiny synthetic setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_finetune_example_runs(tmp_path):
    command = [
        sys.executable,
        str(ROOT / "examples" / "finetune.py"),
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--image-size",
        "64",
        "--synthetic-images",
        "8",
        "--batch-size",
        "4",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "ISIC Part 1" in finished.stdout
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["n_images"] == 30
    for name in ("config.json", "history.csv", "last.pt", "best.pt", "loss_curve.png"):
        assert (tmp_path / "run" / name).is_file(), name
