"""The isicseg command: errors reach the user as one line."""

from __future__ import annotations

import torch

from isicseg import build_mask_rcnn
from isicseg.cli import main

from ..conftest import MINI_ROOT

LIGHT = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96}


def test_predict_cli_errors(tmp_path, capsys):
    model = build_mask_rcnn(5, **LIGHT)
    weights = tmp_path / "five.pt"
    torch.save({"model": model.state_dict(), "model_config": model.identity.to_dict()}, weights)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(weights), str(empty)]) == 2
    assert f"No image file (.jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp) found in {empty}" in capsys.readouterr().err
    assert main(["predict", str(weights), str(MINI_ROOT / "ISIC-2017_Validation_Data"), "--out", str(tmp_path / "o")]) == 2
    assert "five.pt does not name its label scheme (a plain state dict); pass --label-scheme (binary or three_class)" in capsys.readouterr().err


def test_a_value_error_reaches_the_command_line_as_one_line(monkeypatch, capsys, tmp_path):
    import isicseg.cli as cli

    def broken(args):
        raise ValueError("a plugin's own complaint")

    monkeypatch.setattr(cli, "_cmd_check", broken)
    assert cli.main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "isicseg check: error: ValueError: a plugin's own complaint\n"
