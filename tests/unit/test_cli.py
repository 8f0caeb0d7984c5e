"""The isicseg command: errors reach the user as one line."""

from __future__ import annotations

import pytest
import torch

from isicseg import build_mask_rcnn
from isicseg.cli import main

from ..conftest import MINI_ROOT

LIGHT = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96}


def test_predict_cli_errors(tmp_path, capsys):
    model = build_mask_rcnn(5, **LIGHT)
    weights = tmp_path / "five.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, weights)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(weights), str(empty)]) == 2
    assert f"No image file (.jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp) found in {empty}" in capsys.readouterr().err
    assert (
        main(["predict", str(weights), str(MINI_ROOT / "ISIC-2017_Validation_Data"), "--out", str(tmp_path / "o")]) == 2
    )
    assert (
        "five.pt does not name its label scheme (a plain state dict); pass --label-scheme (binary or three_class)"
        in capsys.readouterr().err
    )


def test_an_unexpected_error_is_one_line_that_says_it_is_internal(monkeypatch, capsys, tmp_path):
    import isicseg.cli as cli

    def broken(args):
        raise ValueError("a plugin's own complaint\nsecond line")

    monkeypatch.setattr(cli, "_cmd_check", broken)
    assert cli.main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "isicseg check: internal error: ValueError: a plugin's own complaint (not a problem isicseg found in your input; "
    )
    assert err.count("\n") == 1 and "ISICSEG_TRACEBACK=1" in err
    monkeypatch.setenv("ISICSEG_TRACEBACK", "1")
    with pytest.raises(ValueError, match="a plugin's own complaint"):  # the traceback, for whoever debugs it
        cli.main(["check", str(tmp_path)])


def test_an_os_error_is_one_line_naming_the_path(monkeypatch, capsys, tmp_path):
    import isicseg.cli as cli

    def read_only(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out" / "masks"))

    monkeypatch.setattr(cli, "_cmd_predict", read_only)
    weights = tmp_path / "w.pt"
    assert cli.main(["predict", str(weights), str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"isicseg predict: error: Permission denied: {tmp_path / 'out' / 'masks'}. Earlier results in {tmp_path / 'out'} are as they were; no new result was kept.\n"
    )
