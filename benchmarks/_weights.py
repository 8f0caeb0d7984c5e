"""The ImageNet MobileNetV2 file for benchmarks: put in a temporary TORCH_HOME, never copied into the repository."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def use_weight_file(weights: Path, *, keep_existing: bool = False) -> Path | None:
    """Copy ``weights`` into a fresh temporary ``hub/checkpoints/`` and point TORCH_HOME there.

    A ``lesion_crop`` head reads the ImageNet file from TORCH_HOME when it is built; a missing file is left to its
    error (nothing is done, ``None`` is returned). With ``keep_existing`` a TORCH_HOME set already is left as it is.
    The temporary folder is removed when the process exits.
    """
    if not weights.is_file():
        return None
    torch_home = Path(tempfile.mkdtemp(prefix="torch_home_"))
    atexit.register(shutil.rmtree, torch_home, ignore_errors=True)
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(weights, torch_home / "hub" / "checkpoints" / weights.name)
    if keep_existing:
        os.environ.setdefault("TORCH_HOME", str(torch_home))
    else:
        os.environ["TORCH_HOME"] = str(torch_home)
    return torch_home
