"""Outputs never replace inputs, and one writer per output folder (issue 33, classes 1 and 2).

Every writing command is tried against its own inputs (as given, through a symbolic link and
through a hard link), and two processes are pointed at one output folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from isicseg.cli import main
from isicseg.exceptions import ConfigError
from isicseg.outputs import LOCK_NAME, STAGING_PREFIX, check_apart, output_lock

from ..conftest import MINI_ROOT
from ..helpers import snapshot

IMAGES = MINI_ROOT / "ISIC-2017_Validation_Data"


def test_check_apart_names_each_way_an_output_meets_an_input(tmp_path):
    data = tmp_path / "data"
    (data / "inner").mkdir(parents=True)
    (data / "inner" / "a.jpg").write_bytes(b"a")
    (tmp_path / "link").symlink_to(data)
    os.link(data / "inner" / "a.jpg", tmp_path / "hard.jpg")
    cases = [
        ({"replaced": [data]}, "is the input"),
        ({"replaced": [tmp_path / "link"]}, "is the input"),  # through a symbolic link
        ({"replaced": [tmp_path]}, "holds the input"),
        ({"replaced": [data / "inner" / "out"]}, "lies inside the input"),
        ({"into": [data / "inner" / "new"]}, "lies inside the input"),
    ]
    for where, words in cases:
        with pytest.raises(ConfigError, match=rf"^export: output .* {words} .*An output never replaces an input"):
            check_apart([data], command="export", **where)
    with pytest.raises(ConfigError, match=r"is a hard link of the input"):
        check_apart([data / "inner" / "a.jpg"], replaced=[tmp_path / "hard.jpg"], command="export")
    other = tmp_path / "other"
    other.mkdir()
    os.link(data / "inner" / "a.jpg", other / "kept.jpg")
    with pytest.raises(ConfigError, match=r"holds .*kept.jpg, a hard link of the input"):
        check_apart([data / "inner" / "a.jpg"], replaced=[other], command="predict")
    check_apart([data], into=[tmp_path], command="predict")  # writing beside an input is fine
    check_apart([data / "inner" / "a.jpg"], replaced=[tmp_path / "new"], command="predict")


@pytest.mark.parametrize("via", ["same path", "symlink", "hard link"])
def test_export_never_replaces_its_own_checkpoint(weights, tmp_path, capsys, via):
    victim = tmp_path / "victim.pt"
    shutil.copy(weights, victim)
    out = {"same path": victim, "symlink": tmp_path / "alias.pt", "hard link": tmp_path / "twin.pt"}[via]
    if via == "symlink":
        out.symlink_to(victim)
    elif via == "hard link":
        os.link(victim, out)
    before = snapshot(tmp_path)
    code = main(["export", str(victim), "--format", "torchscript", "--out", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and f"export: output {out} " in err and f"the input {victim}" in err, err
    assert snapshot(tmp_path) == before  # the checkpoint is whole, nothing else written


def test_predict_and_evaluate_never_write_into_their_inputs(weights, tmp_path, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(IMAGES, photos)
    data = tmp_path / "data"
    shutil.copytree(MINI_ROOT, data)
    (tmp_path / "photos-link").symlink_to(photos)
    before = snapshot(tmp_path)
    for out in (photos, tmp_path / "photos-link", photos / "results"):
        assert main(["predict", str(weights), str(photos), "--out", str(out), "--overwrite"]) == 2
        assert "An output never replaces an input" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "weights-here.pt"), str(photos), "--out", str(tmp_path / "w")]) == 2
    capsys.readouterr()
    images = data / "ISIC-2017_Validation_Data"
    args = ["evaluate", str(weights), "--data", str(data), "--split", "validation", "--overwrite"]
    assert main([*args, "--out", str(images / "eval")]) == 2
    assert f"evaluate: output {images / 'eval'} lies inside the input {images}" in capsys.readouterr().err
    local = tmp_path / "ev" / "masks" / "model.pt"  # the checkpoint inside a folder evaluate replaces
    local.parent.mkdir(parents=True)
    shutil.copy(weights, local)
    before = snapshot(tmp_path)
    assert main(["evaluate", str(local), *args[2:], "--out", str(tmp_path / "ev")]) == 2
    assert f"evaluate: output {tmp_path / 'ev' / 'masks'} holds the input {local}" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_train_never_puts_its_run_folder_over_an_input(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(MINI_ROOT, data)
    tiny = ["--data", str(data), "--epochs", "1", "--image-size", "64", "--backbone", "resnet18_fpn"]
    tiny += ["--pretrained", "none", "--classifier", "none"]
    assert main(["train", "--out", str(data), "--name", "ISIC-2017_Training_Data", *tiny]) == 2
    assert "train: output " in capsys.readouterr().err
    assert main(["train", "--out", str(data / "runs"), "--name", "r", *tiny]) == 2  # inside the data root
    assert f"lies inside the input {data}" in capsys.readouterr().err
    recipe = tmp_path / "runs" / "r" / "recipe.json"
    recipe.parent.mkdir(parents=True)
    recipe.write_text(json.dumps({"trainer": {"epochs": 1}}))
    before = snapshot(tmp_path / "runs")
    assert main(["train", "--config", str(recipe), "--out", str(tmp_path / "runs"), "--name", "r", *tiny]) == 2
    assert f"train: output {tmp_path / 'runs' / 'r'} holds the input {recipe}" in capsys.readouterr().err
    assert snapshot(tmp_path / "runs") == before


def _holder(folder, name: str = LOCK_NAME, command: str = "predict") -> subprocess.Popen:
    code = (
        "import pathlib, time; from isicseg.outputs import output_lock\n"
        f"with output_lock(pathlib.Path({str(folder)!r}), {command!r}, name={name!r}):\n"
        " print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_on_one_output_folder_is_refused_and_live_staging_is_kept(weights, tmp_path, capsys):
    out = tmp_path / "pr"
    out.mkdir()
    live = out / f"{STAGING_PREFIX}predict-live"  # what a running predict is writing
    (live / "masks").mkdir(parents=True)
    holder = _holder(out)
    try:
        for args in (
            ["predict", str(weights), str(IMAGES), "--out", str(out), "--overwrite"],
            ["evaluate", str(weights), "--data", str(MINI_ROOT), "--split", "validation", "--out", str(out)],
            ["synth", str(out), "--train", "1", "--validation", "1", "--test", "1", "--overwrite"],
        ):
            assert main(args) == 2
            err = capsys.readouterr().err
            assert f"Output folder {out} is in use by isicseg predict (pid {holder.pid} on " in err, err
            assert "Wait for it to finish" in err
            assert live.is_dir()  # a live process's staging is never removed
    finally:
        holder.kill()
        holder.wait()
    assert main(["predict", str(weights), str(IMAGES), "--out", str(out), "--overwrite"]) == 0
    assert not live.exists()  # its holder is gone: now it is stale, and cleaned up
    assert sorted(p.name for p in out.iterdir()) == ["masks", "overlays", "predictions.csv"]  # no lock file left


def test_a_second_export_of_one_file_is_refused_and_a_killed_exports_partial_is_removed(weights, tmp_path, capsys):
    out = tmp_path / "model.pt"
    holder = _holder(tmp_path, name=".model.pt.isicseg.lock", command="export")
    try:
        assert main(["export", str(weights), "--format", "torchscript", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"Exported file {out} is in use by isicseg export (pid {holder.pid} on " in err, err
    finally:
        holder.kill()
        holder.wait()
    (tmp_path / ".model.pt.abc123.partial").write_bytes(b"half an export")  # a killed export's
    assert main(["export", str(weights), "--format", "torchscript", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_output_lock_is_released_and_removed_and_refuses_a_second_holder(tmp_path):
    with output_lock(tmp_path, "evaluate"):
        assert (tmp_path / LOCK_NAME).read_text().startswith(f"isicseg evaluate (pid {os.getpid()} on ")
        with pytest.raises(ConfigError, match=r"Output folder .* is in use by isicseg evaluate \(pid"):
            with output_lock(tmp_path, "predict"):
                pass
    assert not (tmp_path / LOCK_NAME).exists()
    with output_lock(tmp_path, "predict"):  # free again
        pass


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_checkpoints_and_exports_follow_the_umask(weights, tmp_path, umask):
    from isicseg.engine.checkpoint import save_checkpoint
    from isicseg.export import export_model

    previous = os.umask(umask)
    try:
        save_checkpoint({"model": {}}, tmp_path / "c.pt")
        export_model(weights, tmp_path / "m.pt", format="torchscript")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"c.pt": 0o666 & ~umask, "m.pt": 0o666 & ~umask, "plain.txt": 0o666 & ~umask}
