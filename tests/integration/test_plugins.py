"""Plugins arrive through real entry points (importlib.metadata), loaded lazily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from isicseg.registry import PluginWarning, Registry

pytestmark = pytest.mark.integration
PLUGIN = Path(__file__).resolve().parents[1] / "data" / "plugin" / "tiny_plugin.py"


def install_plugin(site: Path, name: str, entry_points: str, module: Path | None = None) -> Path:
    """What pip leaves behind for a plugin distribution: its module and a .dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    if module is not None:
        shutil.copy(module, site / module.name)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return site


def run_python(code: str, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)


def test_plugin_backbone_usable_by_name(tmp_path):
    site = install_plugin(
        tmp_path / "site", "tiny_plugin", "[isicseg.backbones]\ntiny_convnet = tiny_plugin:TINY_CONVNET\n", PLUGIN
    )
    code = """
import sys, torch
import isicseg
assert 'tiny_plugin' not in sys.modules          # lazy: nothing loaded at import
from isicseg import build_mask_rcnn, list_backbones
print('tiny_convnet' in list_backbones())
model = build_mask_rcnn(3, backbone='tiny_convnet', min_size=64, max_size=80)
model.eval()
out = model([torch.rand(3, 64, 80)])[0]
print(type(model.backbone).__name__, ",".join(sorted(out)), out["masks"].shape[-2:] == (64, 80))
"""
    finished = run_python(code, site)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.split() == ["True", "TinyConvNet", "boxes,labels,masks,scores", "True"]


@pytest.mark.slow
def test_plugin_backbone_from_the_cli(tmp_path, synthetic_root):
    site = install_plugin(
        tmp_path / "site", "tiny_plugin", "[isicseg.backbones]\ntiny_convnet = tiny_plugin:TINY_CONVNET\n", PLUGIN
    )
    args = [
        "train",
        "--data",
        str(synthetic_root),
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "p",
        "--backbone",
        "tiny_convnet",
        "--pretrained",
        "none",
        "--epochs",
        "1",
        "--image-size",
        "64",
        "--subset",
        "4",
        "--batch-size",
        "2",
        "--proposals",
        "few",
    ]
    finished = run_python(f"import sys; from isicseg.cli import main; sys.exit(main({args!r}))", site)
    assert finished.returncode == 0, finished.stderr[-3000:]
    config = json.loads((tmp_path / "runs" / "p" / "config.json").read_text())
    assert config["model"]["backbone"] == "tiny_convnet"
    assert (tmp_path / "runs" / "p" / "evaluation" / "summary.json").is_file()


def test_broken_plugin_warns_and_never_breaks(tmp_path, monkeypatch):
    site = install_plugin(tmp_path / "site", "broken_plugin", "[isicseg.widgets]\nbad = no_such_module:THING\n")
    install_plugin(tmp_path / "site", "good_plugin", "[isicseg.widgets]\ngood = json:dumps\n")
    monkeypatch.syspath_prepend(str(site))
    registry = Registry("widgets")
    with pytest.warns(
        PluginWarning,
        match=r"Could not load isicseg plugin 'bad' \(no_such_module:THING\) from group 'isicseg.widgets': ModuleNotFoundError",
    ):
        names = registry.names()
    assert names == ["good"] and registry.get("good") is json.dumps
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.names()  # loaded once: no second warning


def test_broken_plugin_does_not_break_import(tmp_path):
    site = install_plugin(tmp_path / "site", "broken_plugin", "[isicseg.backbones]\nbad = no_such_module:THING\n")
    finished = run_python("import isicseg; from isicseg import list_backbones; print(sorted(list_backbones()))", site)
    assert finished.returncode == 0, finished.stderr
    assert "resnet50_fpn" in finished.stdout and "Could not load isicseg plugin 'bad'" in finished.stderr
