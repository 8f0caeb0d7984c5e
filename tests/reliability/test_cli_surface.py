"""Every subcommand with bad arguments: exit 2, one line on stderr that says what is wrong, never a traceback.

The table is the contract: each row is a mistake a real user makes, and the words the
answer must contain. A new subcommand or flag gets its rows here.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from isicseg import build_mask_rcnn
from isicseg.cli import main
from isicseg.models import FEW_PROPOSALS

from ..conftest import MINI_ROOT

pytestmark = pytest.mark.integration

VAL = str(MINI_ROOT / "ISIC-2017_Validation_Data")


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder of things a user points the command line at."""
    here = tmp_path_factory.mktemp("surface")
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=96, label_scheme="binary", **FEW_PROPOSALS
    )
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, here / "w.pt")
    (here / "login.pt").write_text("<html>please log in</html>")
    (here / "afile").write_text("mine")
    (here / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (here / "list.json").write_text("[1, 2]")
    (here / "typo.json").write_text(json.dumps({"trainer": {"epoch": 3}}))
    (here / "outdir.json").write_text(json.dumps({"trainer": {"out_dir": "x"}}))
    (here / "notjson.json").write_text("{epochs: 3")
    (here / "full").mkdir()
    (here / "full" / "summary.json").write_text("{}")
    (here / "empty").mkdir()
    os.mkfifo(here / "pipe.jpg")
    return here


TABLE = [
    # predict
    (["predict", "{p}/w.pt", "{p}/nothing.jpg", "--out", "{p}/o1"], "nothing.jpg does not exist"),
    (["predict", "{p}/w.pt", "{p}/empty", "--out", "{p}/o1"], "No image file"),
    (["predict", "{p}/w.pt", "{p}/pipe.jpg", "--out", "{p}/o1"], "is not a regular file or folder (a FIFO"),
    (["predict", "{p}/login.pt", VAL, "--out", "{p}/o1"], "login.pt could not be loaded with weights_only=True"),
    (["predict", "{p}", VAL, "--out", "{p}/o1"], "is a folder; expected a .pth state dict"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/afile"], "is a file; predict writes a folder there"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/full"], "is not empty (holds summary.json)"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/o1", "--device", "gpu"], "device 'gpu' is not a device name"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/o1", "--device", "cuda:3"], "device 'cuda:3' was asked for"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/o1", "--image-size", "0"], "image_size must be a positive int"),
    (["predict", "{p}/w.pt", VAL, "--out", "{p}/o1", "--label-scheme", "four"], "four"),
    # evaluate
    (
        ["evaluate", "{p}/w.pt", "--data", "{p}/afile", "--split", "validation", "--out", "{p}/o2"],
        "is a file, not a folder",
    ),
    (["evaluate", "{p}/w.pt", "--data", "{p}/nowhere", "--split", "validation", "--out", "{p}/o2"], "does not exist"),
    (["evaluate", "{p}/w.pt", "--data", str(MINI_ROOT), "--split", "test", "--out", "{p}/o2"], "does not exist"),
    (
        [
            "evaluate",
            "{p}/w.pt",
            "--data",
            str(MINI_ROOT),
            "--split",
            "validation",
            "--out",
            "{p}/o2",
            "--image-size",
            "0",
        ],
        "image_size must be a positive int",
    ),
    (
        [
            "evaluate",
            "{p}/w.pt",
            "--data",
            str(MINI_ROOT),
            "--split",
            "validation",
            "--out",
            "{p}/o2",
            "--device",
            "meta",
        ],
        "device 'meta' is not a device name",
    ),
    (
        ["evaluate", "{p}/w.pt", "--data", str(MINI_ROOT), "--split", "validation", "--out", "{p}/full"],
        "evaluate would mix its results",
    ),
    # train
    (["train", "--config", "{p}/deep.json", "--data", str(MINI_ROOT), "--out", "{p}/runs"], "nested too deeply"),
    (
        ["train", "--config", "{p}/list.json", "--data", str(MINI_ROOT), "--out", "{p}/runs"],
        "holds a JSON list; expected a JSON object",
    ),
    (
        ["train", "--config", "{p}/notjson.json", "--data", str(MINI_ROOT), "--out", "{p}/runs"],
        "Could not read Run config",
    ),
    (["train", "--config", "{p}/typo.json", "--data", str(MINI_ROOT), "--out", "{p}/runs"], "epoch"),
    (
        ["train", "--config", "{p}/outdir.json", "--data", str(MINI_ROOT), "--out", "{p}/runs"],
        "which isicseg train does not use",
    ),
    (["train", "--config", "{p}", "--data", str(MINI_ROOT), "--out", "{p}/runs"], "is a folder; expected a JSON file"),
    (["train", "--config", "nosuchrecipe", "--data", str(MINI_ROOT), "--out", "{p}/runs"], "is no recipe name"),
    (
        ["train", "--data", str(MINI_ROOT), "--lr", "1e308", "--out", "{p}/runs"],
        "TrainerConfig.lr must be a float in (0, 10]",
    ),
    (["train", "--data", str(MINI_ROOT), "--lr", "-1", "--out", "{p}/runs"], "TrainerConfig.lr must be"),
    (["train", "--data", str(MINI_ROOT), "--device", "meta", "--out", "{p}/runs"], "TrainerConfig.device must be"),
    (
        ["train", "--data", str(MINI_ROOT), "--epochs", "0", "--out", "{p}/runs"],
        "TrainerConfig.epochs must be an int >= 1",
    ),
    (["train", "--data", "{p}/afile", "--out", "{p}/runs", "--name", "f"], "is a file, not a folder"),
    (["train", "--out", "{p}/runs", "--name", "none", "--resume"], "does not exist; start the run without --resume"),
    (["train", "--out", "{p}/runs", "--resume"], "--resume needs --name"),
    # synth, download, check, demo
    (["synth", "{p}/afile"], "is a file; synth writes a folder there"),
    (["synth", "{p}/s", "--train", "999999999"], "num_images must give each split an int in 0..100,000"),
    (["synth", "{p}/s", "--height", "100000"], "image_size must be (height, width), each an int in 16..4096"),
    (["download", "{p}/afile"], "is a file; isicseg download fills a folder there"),
    (["download", "{p}/d", "--mirror", "{p}/nowhere"], "is neither an http(s):// or file:// address nor a folder"),
    (
        ["download", "{p}/d", "--split", "validation", "--parts", "labels", "--mirror", "file:///nowhere"],
        "no such file",
    ),
    (["demo", "--out", "{p}/demo", "--train-images", "0"], "--train-images must be an int >= 1"),
    (["demo", "--out", "{p}/demo", "--epochs", "-1"], "TrainerConfig.epochs must be an int >= 1"),
    (["demo", "--out", "{p}/demo", "--image-size", "5"], "image"),
]


@pytest.mark.parametrize(("args", "words"), TABLE, ids=[" ".join(a[:1] + [w[:30]]) for a, w in TABLE])
def test_a_bad_command_line_is_one_clear_line(place, capsys, args, words):
    argv = [a.replace("{p}", str(place)) for a in args]
    before = sorted(p.name for p in place.iterdir())
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"isicseg {argv[0]}: error: ") and "Traceback" not in err
    assert words in err
    assert len(lines) == 1 or "Expected layout:" in lines[0]  # a missing-data message shows the layout below its line
    assert sorted(p.name for p in place.iterdir()) == before or argv[0] in (
        "train",
        "demo",
    )  # nothing was left in the place
    if argv[0] == "demo":
        assert not (place / "demo").exists()  # flags are checked before the demo writes data


def test_check_says_what_is_wrong_with_exit_1(place, capsys):
    assert main(["check", str(place / "afile")]) == 1
    assert f"ERROR   Data root {place / 'afile'} is a file, not a folder." in capsys.readouterr().out
    assert main(["check", str(MINI_ROOT), "--split", "test"]) == 1
    assert "The test split's image folder" in capsys.readouterr().out
