"""Run folders: one training at a time, the checkpoint is the truth on resume, every config field works or is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from isicseg.cli import main
from isicseg.config import RunConfig
from isicseg.exceptions import ConfigError
from isicseg.run import LOCK_NAME, run_lock, train_run

from ..conftest import MINI_ROOT
from ..helpers import snapshot

pytestmark = pytest.mark.integration

TINY = [
    "--data",
    str(MINI_ROOT),
    "--backbone",
    "resnet18_fpn",
    "--pretrained",
    "none",
    "--image-size",
    "64",
    "--epochs",
    "1",
    "--batch-size",
    "2",
    "--val-split",
    "",
    "--eval-split",
    "",
    "--proposals",
    "few",
    "--classifier",
    "none",
]


def test_a_second_process_on_the_same_run_folder_is_refused_naming_the_first(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import pathlib, time; from isicseg.run import run_lock\nwith run_lock(pathlib.Path({str(run_dir)!r})):\n print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        assert main(["train", "--out", str(tmp_path / "runs"), "--name", "r", *TINY]) == 2
        err = capsys.readouterr().err
        assert (
            f"Run folder {run_dir} is in use by isicseg train (pid {holder.pid} on " in err
            and "choose another --name" in err
        )
        assert snapshot(run_dir) == before  # nothing of the second run was written
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run_dir):  # the lock died with its holder: no stale lock
        with pytest.raises(ConfigError, match=r"is in use by isicseg train \(pid"):
            with run_lock(run_dir):
                pass
    assert not (run_dir / LOCK_NAME).exists()  # removed by its last holder: nothing left behind


@pytest.mark.slow
def test_resume_after_config_json_was_edited_is_refused_naming_the_edit(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--out", str(runs), "--name", "r", *TINY]) == 0
    config = runs / "r" / "config.json"
    saved = json.loads(config.read_text())
    saved["trainer"]["lr"] = 0.5
    config.write_text(json.dumps(saved))
    before = snapshot(runs / "r")
    assert main(["train", "--out", str(runs), "--name", "r", "--resume", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert (
        f"Cannot resume {runs / 'r'}: its config.json was edited after last.pt was written (lr: last.pt " in err
        and "config.json 0.5)" in err
    )
    assert snapshot(runs / "r") == before


def test_config_file_fields_work_or_are_refused(tmp_path, capsys, monkeypatch):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"trainer": {"out_dir": str(tmp_path / "elsewhere")}}))
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "runs"), *TINY]) == 2
    assert (
        f"{recipe} sets trainer.out_dir ('{tmp_path / 'elsewhere'}'), which isicseg train does not use: a run's folder is --out/--name"
        in capsys.readouterr().err
    )
    with pytest.raises(
        ConfigError,
        match=r"config.trainer.out_dir is .*elsewhere', but train_run writes the run into .*runs/x \(runs_dir/name\)",
    ):
        train_run(
            RunConfig(name="x").replace(root=str(MINI_ROOT), out_dir=str(tmp_path / "elsewhere")),
            runs_dir=tmp_path / "runs",
        )
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "runs").exists()
    # name in a config file is the run's name when --name is not given
    import isicseg.cli as cli

    seen = []
    monkeypatch.setattr("isicseg.run.train_run", lambda config, **kwargs: seen.append(config.name))
    recipe.write_text(json.dumps({"name": "from-the-file"}))
    assert cli.main(["train", "--config", str(recipe), "--out", str(tmp_path / "runs"), *TINY]) == 0
    assert seen == ["from-the-file"]


def test_a_train_split_with_no_image_is_refused_before_training(tmp_path, capsys):
    root = tmp_path / "empty"
    for folder in ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"):
        (root / folder).mkdir(parents=True)
    (root / "ISIC-2017_Training_Part3_GroundTruth.csv").write_text("image_id,melanoma,seborrheic_keratosis\n")
    args = ["train", "--out", str(tmp_path / "runs"), "--name", "r", *TINY]
    args[args.index(str(MINI_ROOT))] = str(root)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        f"The train split of {root} holds no image (subset=None); there is nothing to train on." in err
        and "ModelCheckpoint" not in err
    )
    assert not (tmp_path / "runs" / "r").exists()  # no run was started: no folder is left behind
