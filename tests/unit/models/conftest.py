from __future__ import annotations

import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from isicseg.models import weights as weights_module

MOBILENET_V2_FILE = Path(__file__).parents[4] / "shared" / "weights" / "mobilenet_v2-b0353104.pth"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME; downloads fail as offline. Returns the list of attempted downloads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    called = []
    monkeypatch.setattr(
        weights_module,
        "_download",
        lambda weights, path: called.append(path) or (_ for _ in ()).throw(urllib.error.URLError("no network")),
    )
    return called


@pytest.fixture
def imagenet_home(torch_home, tmp_path):
    """TORCH_HOME holding torchvision's ImageNet MobileNetV2 file from ../shared/weights."""
    if not MOBILENET_V2_FILE.is_file():
        pytest.skip(f"{MOBILENET_V2_FILE} is absent (it comes with the project's shared data, not with a clone)")
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    shutil.copy(MOBILENET_V2_FILE, folder / MOBILENET_V2_FILE.name)
    return folder / MOBILENET_V2_FILE.name
