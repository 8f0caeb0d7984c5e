"""isicseg train --data ISIC2017_ROOT --data HAM10000_ROOT: one run, two sources, validation on ISIC 2017."""

from __future__ import annotations

import json

import pytest

from isicseg.cli import main
from isicseg.engine import load_checkpoint

from ..conftest import MINI_ROOT
from ..ham_layout import write_ham

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_train_reads_every_data_root_and_keeps_validation_on_the_first(tmp_path, capsys):
    ham = write_ham(tmp_path / "ham")
    args = ["train", "--data", str(MINI_ROOT), "--data", str(ham), "--out", str(tmp_path / "runs"), "--name", "both",
            "--backbone", "resnet18_fpn", "--pretrained", "none", "--classifier", "none", "--proposals", "few", "--image-size", "64",
            "--epochs", "1", "--batch-size", "2", "--label-scheme", "three_class", "--source-shares", "0.5,0.5", "--epoch-items", "4",
            "--eval-split", "", "--optimizer", "adamw", "--lr", "1e-4", "--warmup-steps", "0"]
    assert main(args) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "both"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["root"] == str(MINI_ROOT) and config["data"]["extra_roots"] == [str(ham)]
    assert config["trainer"]["source_shares"] == [0.5, 0.5] and config["trainer"]["epoch_items"] == 4
    log = (run / "train.log").read_text()
    assert "MultiSourceDataset(isic2017=4, ham10000=11, label_scheme='three_class')" in log
    history = json.loads((run / "history.json").read_text())
    assert "val_jaccard" in history[0]  # validated on the ISIC 2017 validation split
    assert load_checkpoint(run / "last.pt")["global_step"] == 2  # 4 items an epoch at batch 2, not 15


def test_a_root_of_no_known_kind_is_refused_naming_what_it_holds(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    assert main(["train", "--data", str(MINI_ROOT), "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "runs"), "--name", "x",
                 "--backbone", "resnet18_fpn", "--pretrained", "none"]) == 2
    err = capsys.readouterr().err
    assert f"Data root {tmp_path / 'photos'} is neither ISIC 2017" in err and "it holds a.jpg" in err
