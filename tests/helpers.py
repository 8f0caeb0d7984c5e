"""Small models and data for engine tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from isicseg import build_mask_rcnn
from isicseg.models import FEW_PROPOSALS


def tiny_model(num_classes: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_mask_rcnn(num_classes, backbone="resnet18_fpn", min_size=64, max_size=86, **FEW_PROPOSALS)


ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def import_benchmark(name: str, *needed: str) -> ModuleType:
    """Import ``benchmarks/<name>.py``; skip the test when ``../shared`` lacks one of ``needed``."""
    missing = [item for item in needed if not (SHARED / item).exists()]
    if missing:
        pytest.skip(f"{SHARED} lacks {', '.join(missing)} (they come with the project's shared data)")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) as ``{relative path: bytes}``, to compare before and after."""
    folder = Path(folder)
    return (
        {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        if folder.exists()
        else {}
    )
