"""The ImageNet MobileNetV2 file for benchmarks: put in a temporary TORCH_HOME, never copied into the repository."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def use_weight_file(weights: Path) -> None:
    """Copy ``weights`` into a fresh ``TORCH_HOME/hub/checkpoints/`` unless TORCH_HOME is set (a lesion_crop head reads it)."""
    if not weights.is_file():
        return
    torch_home = Path(tempfile.mkdtemp(prefix="torch_home_"))
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(weights, torch_home / "hub" / "checkpoints" / weights.name)
    os.environ.setdefault("TORCH_HOME", str(torch_home))
