from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from isicseg.cli import main
from isicseg.config import RunConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_FILES = [
    "best.pt",
    "config.json",
    "evaluation",
    "history.csv",
    "history.json",
    "last.pt",
    "loss_curve.png",
    "train.log",
]


def test_train_writes_run_folder_and_resumes(synthetic_root, tmp_path, capsys):
    args = [
        "train",
        "--data",
        str(synthetic_root),
        "--name",
        "t",
        "--out",
        str(tmp_path),
        "--epochs",
        "2",
        "--image-size",
        "64",
        "--backbone",
        "resnet18_fpn",
        "--pretrained",
        "none",
        "--proposals",
        "few",
        "--subset",
        "4",
        "--batch-size",
        "2",
        "--optimizer",
        "adamw",
        "--lr",
        "0.0005",
        "--warmup-steps",
        "1",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    run = tmp_path / "t"
    assert sorted(p.name for p in run.iterdir()) == RUN_FILES
    evaluation = run / "evaluation"
    for name in ("per_image.csv", "summary.json", "classification.csv", "masks", "figures"):
        assert (evaluation / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["trainer"]["epochs"] == 2 and config["trainer"]["seed"] == 3
    assert config["model"]["backbone"] == "resnet18_fpn" and config["data"]["subset"] == 4 and config["name"] == "t"
    saved = RunConfig.from_file(run / "config.json")
    assert (
        torch.load(run / "last.pt", weights_only=True)["run_config"] == saved.to_dict()
    )  # every checkpoint carries it
    assert "ISIC Part 1" in capsys.readouterr().out
    epoch_lines = [
        line for line in (run / "train.log").read_text().splitlines() if line.startswith("epoch 2/2  train_loss ")
    ]
    assert len(epoch_lines) == 1 and "  lr " in epoch_lines[0]  # the learning-rate monitor's lr is shown

    assert main(args) == 2  # the run exists: refuse to overwrite it
    assert "already holds a run; pass --resume" in capsys.readouterr().err

    resume = ["train", "--out", str(tmp_path), "--name", "t", "--resume"]  # no --data: the saved run knows it
    assert main([*resume, "--epochs", "3", "--lr", "0.1", "--data", "elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "Cannot resume " in err and "root: saved " in err and "lr: saved 0.0005, asked 0.1" in err
    assert "Only epochs, device, num_workers, num_threads may change" in err and "epochs:" not in err
    assert main([*resume, "--epochs", "3"]) == 0  # extend the finished run by one epoch
    assert len((run / "history.csv").read_text().splitlines()) == 4  # header + 3 epochs
    assert RunConfig.from_file(run / "config.json").trainer.epochs == 3


def test_train_config_file_and_errors(synthetic_root, tmp_path, capsys):
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "data": {
                    "root": str(synthetic_root),
                    "image_size": 64,
                    "subset": 2,
                    "val_split": "",
                    "eval_split": "validation",
                },
                "model": {"backbone": "resnet18_fpn", "pretrained": "none", "proposals": "few"},
                "trainer": {"epochs": 1, "batch_size": 2},
            }
        )
    )
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--out",
                str(tmp_path),
                "--name",
                "c",
                "--batch-size",
                "1",
                "--tta",
                "true",
            ]
        )
        == 0
    )
    saved = RunConfig.from_file(tmp_path / "c" / "config.json")
    assert saved.trainer.batch_size == 1 and saved.trainer.epochs == 1 and saved.eval.tta  # the flags override the file
    assert saved.data.val_split is None and saved.model.backbone == "resnet18_fpn"
    assert main(["train", "--out", str(tmp_path), "--name", "none", "--epochs", "1"]) == 2
    assert "A run needs a data root: pass --data ROOT" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path), "--name", "x", "--resume"]) == 2
    assert f"Cannot resume: {tmp_path / 'x' / 'config.json'} does not exist" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path), "--resume"]) == 2
    assert "--resume needs --name" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path), "--name", "c", "--resume", "--config", str(config)]) == 2
    assert (
        f"--resume continues {tmp_path / 'c'} with its saved config.json; drop --config {config}"
        in capsys.readouterr().err
    )


def test_demo_command_small(tmp_path):
    command = [
        sys.executable,
        "-m",
        "isicseg.cli",
        "demo",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--train-images",
        "8",
        "--image-size",
        "64",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Demo finished in" in finished.stdout and "test mean Jaccard" in finished.stdout
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == RUN_FILES
    # the end says where the results are, and how to score the model on real data
    evaluation = tmp_path / "demo" / "evaluation"
    assert f"figures:     {evaluation / 'figures'}" in finished.stdout and any((evaluation / "figures").iterdir())
    assert (
        f"submission:  {evaluation / 'masks'}" in finished.stdout
        and len(list((evaluation / "masks").glob("*.png"))) == 40
    )
    assert (
        f"{evaluation / 'classification.csv'} (task 3)" in finished.stdout
        and (evaluation / "classification.csv").is_file()
    )
    command_line = f"isicseg evaluate {tmp_path / 'demo' / 'best.pt'} --data data/isic2017 --split test --out {tmp_path / 'demo-isic2017-test'}"
    assert command_line in finished.stdout
    assert (
        main(
            command_line.split()[1:3]
            + ["--data", str(tmp_path / "synthetic-isic"), "--split", "test", "--out", str(tmp_path / "scored")]
        )
        == 0
    )
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)  # a second demo gets its own folder
    assert again.returncode == 0, again.stderr[-3000:]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("demo")]) == 2


def test_same_settings_give_the_same_run(synthetic_root, tmp_path):
    for name in ("a", "b"):
        args = [
            "train",
            "--data",
            str(synthetic_root),
            "--name",
            name,
            "--out",
            str(tmp_path),
            "--epochs",
            "1",
            "--image-size",
            "64",
            "--backbone",
            "resnet18_fpn",
            "--pretrained",
            "none",
            "--proposals",
            "few",
            "--subset",
            "2",
            "--batch-size",
            "2",
            "--val-split",
            "",
            "--eval-split",
            "validation",
            "--seed",
            "5",
        ]
        assert main(args) == 0
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # initial weights are seeded by the run too
