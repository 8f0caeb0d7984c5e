"""``isicseg check`` lists unreadable files and folders as problems instead of crashing.

Root reads any file, so the check runs as user ``nobody`` (``setpriv``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ..conftest import MINI_ROOT

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="runs the check as another user, which needs root and setpriv",
)


@pytest.fixture
def shared_tmp():
    """A folder user nobody can reach (pytest's tmp_path lies under a folder only root may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="isicseg-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def test_check_lists_unreadable_csv_and_folder(shared_tmp):
    root = shared_tmp / "root"
    shutil.copytree(MINI_ROOT, root)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (root / "ISIC-2017_Training_Part3_GroundTruth.csv").chmod(0)
    (root / "ISIC-2017_Validation_Data").chmod(0)
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "isicseg.cli",
        "check",
        str(root),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in finished.stderr, finished.stderr[-2000:]
    assert finished.returncode == 1
    assert (
        f"Ground-truth CSV {root / 'ISIC-2017_Training_Part3_GroundTruth.csv'} cannot be read (Permission denied)"
        in finished.stdout
    )
    assert (
        f"The validation split's image folder {root / 'ISIC-2017_Validation_Data'} cannot be listed (Permission denied)"
        in finished.stdout
    )


def _as_nobody(*args: str) -> subprocess.CompletedProcess:
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "isicseg.cli",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_read_only_output_folders_are_one_line_and_keep_what_is_there(shared_tmp):
    import torch

    from isicseg import build_mask_rcnn
    from isicseg.models import FEW_PROPOSALS

    from ..helpers import snapshot

    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=96, label_scheme="binary", **FEW_PROPOSALS
    )
    weights = shared_tmp / "w.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, weights)
    weights.chmod(0o644)
    out = shared_tmp / "results"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "ISIC_0000001_segmentation.png").write_bytes(b"earlier")
    (out / "predictions.csv").write_text("earlier")
    for path in [out, *out.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # root's: user nobody may read, not write
    before = snapshot(out)
    images = str(MINI_ROOT / "ISIC-2017_Validation_Data")
    finished = _as_nobody("predict", str(weights), images, "--out", str(out), "--overwrite")
    assert finished.returncode == 2 and "Traceback" not in finished.stderr, finished.stderr[-2000:]
    assert (
        finished.stderr.strip()
        == f"isicseg predict: error: Cannot write into output folder {out} (Permission denied); nothing was changed there."
    )
    finished = _as_nobody(
        "train",
        "--data",
        str(MINI_ROOT),
        "--out",
        str(out),
        "--name",
        "r",
        "--backbone",
        "resnet18_fpn",
        "--pretrained",
        "none",
    )
    assert finished.returncode == 2 and "Traceback" not in finished.stderr, finished.stderr[-2000:]
    assert finished.stderr.startswith(
        f"isicseg train: error: Cannot write into run folder {out / 'r'} (Permission denied); nothing was changed there."
    )
    finished = _as_nobody("synth", str(out / "masks"), "--overwrite")
    assert finished.returncode == 2 and "Permission denied" in finished.stderr and "Traceback" not in finished.stderr
    assert snapshot(out) == before
