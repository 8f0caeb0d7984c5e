"""isicseg train --data ISIC2017_ROOT --data HAM10000_ROOT: one run, two sources, validation on ISIC 2017."""

from __future__ import annotations

import json

import pytest
import torch

from isicseg import read_checkpoint
from isicseg.cli import main

from ..conftest import MINI_ROOT
from ..ham_layout import write_ham

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_train_reads_every_data_root_and_keeps_validation_on_the_first(tmp_path, capsys):
    ham = write_ham(tmp_path / "ham")
    args = [
        "train",
        "--data",
        str(MINI_ROOT),
        "--data",
        str(ham),
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "both",
        "--backbone",
        "resnet18_fpn",
        "--pretrained",
        "none",
        "--classifier",
        "none",
        "--proposals",
        "few",
        "--image-size",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--label-scheme",
        "three_class",
        "--source-shares",
        "0.5,0.5",
        "--epoch-items",
        "4",
        "--eval-split",
        "",
        "--optimizer",
        "adamw",
        "--lr",
        "1e-4",
        "--warmup-steps",
        "0",
    ]
    assert main(args) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "both"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["root"] == str(MINI_ROOT) and config["data"]["extra_roots"] == [str(ham)]
    assert config["trainer"]["source_shares"] == [0.5, 0.5] and config["trainer"]["epoch_items"] == 4
    log = (run / "train.log").read_text()
    assert "MultiSourceDataset(isic2017=4, ham10000=11, label_scheme='three_class')" in log
    history = json.loads((run / "history.json").read_text())
    assert "val_jaccard" in history[0]  # validated on the ISIC 2017 validation split
    assert read_checkpoint(run / "last.pt").contents["global_step"] == 2  # 4 items an epoch at batch 2, not 15


def test_a_root_of_no_known_kind_is_refused_naming_what_it_holds(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    assert (
        main(
            [
                "train",
                "--data",
                str(MINI_ROOT),
                "--data",
                str(tmp_path / "photos"),
                "--out",
                str(tmp_path / "runs"),
                "--name",
                "x",
                "--backbone",
                "resnet18_fpn",
                "--pretrained",
                "none",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"Data root {tmp_path / 'photos'} is neither ISIC 2017" in err and "it holds a.jpg" in err


def test_the_gpu_recipe_takes_several_data_roots_and_trains_two_steps_on_the_cpu(tmp_path, capsys, monkeypatch):
    """The GPU recipe (ResNet-50-FPN from COCO, lesion_crop head) runs here on weight files the test saves itself."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
    from torchvision.ops import FrozenBatchNorm2d

    from isicseg.models import BACKBONES
    from isicseg.models.weights import cached_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.manual_seed(0)
    coco = (
        BACKBONES.get("resnet50_fpn")
        .build(91, norm_layer=FrozenBatchNorm2d, head_norm_layer=torch.nn.BatchNorm2d, trainable_layers=3)
        .state_dict()
    )
    for weights, state in (
        (MaskRCNN_ResNet50_FPN_Weights.COCO_V1, coco),
        (MobileNet_V2_Weights.IMAGENET1K_V1, mobilenet_v2().state_dict()),
    ):
        path = cached_weights_path(weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    ham = write_ham(tmp_path / "ham")
    args = [
        "train",
        "--config",
        "isic2017_resnet50_coco_gpu",
        "--data",
        str(MINI_ROOT),
        "--data",
        str(ham),
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "gpu",
        "--image-size",
        "128",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--source-shares",
        "0.5,0.5",
        "--epoch-items",
        "4",
        "--num-workers",
        "0",
        "--device",
        "cpu",
        "--eval-split",
        "",
    ]
    assert main(args) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "gpu"
    config = json.loads((run / "config.json").read_text())
    assert (
        config["model"]["backbone"] == "resnet50_fpn"
        and config["model"]["pretrained"] == "coco"
        and config["trainer"]["optimizer"] == "sgd"
    )
    assert config["data"]["extra_roots"] == [str(ham)]
    checkpoint = read_checkpoint(run / "last.pt").contents
    assert checkpoint["global_step"] == 2
    # the stem is frozen (3 trainable stages): still the COCO file's weights after two SGD steps, so that file was read
    assert torch.equal(checkpoint["model"]["backbone.body.conv1.weight"], coco["backbone.body.conv1.weight"])
    assert not torch.equal(
        checkpoint["model"]["backbone.fpn.layer_blocks.0.0.weight"], coco["backbone.fpn.layer_blocks.0.0.weight"]
    )


def test_the_ham10000_cpu_recipe_trains_its_detector_on_both_roots_and_two_steps_run(tmp_path, capsys, monkeypatch):
    """configs/isic2017_ham10000_cpu.json as the guide runs it, on an ImageNet file the test saves itself."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    from isicseg.models.weights import cached_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.manual_seed(0)
    path = cached_weights_path(MobileNet_V2_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(mobilenet_v2().state_dict(), path)
    ham = write_ham(tmp_path / "ham")
    args = ["train", "--config", "isic2017_ham10000_cpu", "--data", str(MINI_ROOT), "--data", str(ham)]
    args += ["--out", str(tmp_path / "runs"), "--name", "ham", "--image-size", "64", "--epochs", "1"]
    args += ["--batch-size", "2", "--epoch-items", "4", "--eval-split", "", "--warmup-steps", "0"]
    assert main(args) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "ham"
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["extra_roots"] == [str(ham)] and config["data"]["extra_train_classifier"] is False
    assert config["trainer"]["source_shares"] == [0.75, 0.25] and config["model"]["classifier"] == "lesion_crop"
    assert (
        "MultiSourceDataset(isic2017=4, ham10000=11, label_scheme='three_class', classifier_sources=('isic2017',))"
        in (run / "train.log").read_text()
    )
    assert read_checkpoint(run / "last.pt").contents["global_step"] == 2
    history = json.loads((run / "history.json").read_text())
    assert 0 <= history[0]["val_jaccard"] <= 1  # validated on ISIC 2017's validation split


def test_the_ham10000_cpu_recipe_with_one_root_says_it_needs_two(tmp_path, capsys):
    args = ["train", "--config", "isic2017_ham10000_cpu", "--data", str(MINI_ROOT), "--out", str(tmp_path / "runs")]
    assert main(args + ["--name", "one", "--image-size", "64", "--epochs", "1", "--eval-split", ""]) == 2
    err = capsys.readouterr().err
    assert (
        "source_shares (0.75, 0.25) needs 2 data roots, one share each" in err and "Give one --data per source" in err
    )
    assert not (tmp_path / "runs" / "one").exists()  # refused before the run folder is made
