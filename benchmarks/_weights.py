"""The ImageNet MobileNetV2 file for benchmarks: put in a temporary TORCH_HOME, never copied into the repository."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def use_weight_file(weights: Path) -> None:
    """Copy ``weights`` into a fresh temporary ``hub/checkpoints/`` and point TORCH_HOME there, unless it is set already.

    A ``lesion_crop`` head reads the ImageNet file from TORCH_HOME when it is built; a missing file is left to its error.
    """
    if not weights.is_file():
        return
    torch_home = Path(tempfile.mkdtemp(prefix="torch_home_"))
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(weights, torch_home / "hub" / "checkpoints" / weights.name)
    os.environ.setdefault("TORCH_HOME", str(torch_home))
