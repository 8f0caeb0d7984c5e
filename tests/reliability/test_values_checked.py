"""Every public numeric argument is range-checked at the call, every input a user writes is named when wrong,
and multi-source settings are never doubled or ignored (issue 33, classes 3, 4 and 5)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from isicseg import ISIC2017Dataset, TrainerConfig, build_mask_rcnn, export_model
from isicseg._answers import upsample_mask
from isicseg.callbacks import EarlyStopping, ProgressBar
from isicseg.cli import main
from isicseg.config import RunConfig
from isicseg.data import MultiSourceDataset
from isicseg.data.check import check_dataset
from isicseg.data.sources import data_root_kind
from isicseg.exceptions import ConfigError
from isicseg.metrics import (
    binary_classification_scores,
    specificity_at_sensitivity,
    thresholded_jaccard,
)
from isicseg.metrics.intervals import mean_interval
from isicseg.models.lesion_crop import LesionCropClassifier

from ..conftest import MINI_ROOT
from ..ham_layout import write_ham

TINY = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 64}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"box_detections_per_img": -1}, r"build_mask_rcnn: box_detections_per_img must be an int >= 1; got -1"),
        ({"box_detections_per_img": 2.5}, r"box_detections_per_img must be an int >= 1; got 2.5 \(a float\)"),
        ({"box_score_thresh": 2.0}, r"build_mask_rcnn: box_score_thresh must be a number in \[0, 1\]; got 2.0"),
        ({"rpn_nms_thresh": float("nan")}, r"rpn_nms_thresh must be a number in \[0, 1\]; got nan"),
        ({"box_positive_fraction": -0.1}, r"box_positive_fraction must be a number in \[0, 1\]"),
        ({"rpn_pre_nms_top_n_test": 0}, r"rpn_pre_nms_top_n_test must be an int >= 1; got 0"),
        ({"classifier_loss_weight": float("nan")}, r"classifier_loss_weight must be a number >= 0; got nan"),
        ({"classifier_loss_weight": -1.0}, r"classifier_loss_weight must be a number >= 0; got -1.0"),
    ],
)
def test_build_mask_rcnn_checks_every_numeric_option(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mask_rcnn(3, **TINY, **kwargs)


def test_in_range_options_still_build_and_numpy_numbers_are_numbers():
    model = build_mask_rcnn(3, **TINY, box_detections_per_img=np.int64(5), box_score_thresh=np.float32(0.1))
    assert model.roi_heads.detections_per_img == 5


@pytest.mark.parametrize("value", [float("nan"), 5, -0.1, "0.5", None, True])
def test_metric_thresholds_are_checked(value):
    with pytest.raises(ConfigError, match=r"threshold must be a number in \[0, 1\]; got "):
        thresholded_jaccard([[1, 1]], [[1, 1]], threshold=value)
    with pytest.raises(ConfigError, match=r"threshold must be a number in \[0, 1\]; got "):
        binary_classification_scores([0, 1], [0.2, 0.8], threshold=value)
    with pytest.raises(ConfigError, match=r"sensitivity must be a number in \[0, 1\]; got "):
        specificity_at_sensitivity([0, 1], [0.2, 0.8], sensitivity=value)


def test_numpy_scalars_are_numbers_and_in_range_values_answer():
    assert specificity_at_sensitivity([0, 0, 1, 1], [0.1, 0.5, 0.4, 0.9], sensitivity=np.float32(0.9)) == 0.5
    assert thresholded_jaccard([[1, 1, 1, 0]], [[1, 1, 1, 1]], threshold=np.float64(0.7)) == 0.75
    with pytest.raises(ConfigError, match=r"confidence must be a number in \(0, 1\); got nan"):
        mean_interval([0.5, 0.6], confidence=float("nan"))


def test_callback_numbers_are_checked():
    with pytest.raises(ConfigError, match=r"EarlyStopping: patience must be an int >= 1; got 0"):
        EarlyStopping(patience=0)
    with pytest.raises(ConfigError, match=r"EarlyStopping: min_delta must be a number >= 0; got nan"):
        EarlyStopping(min_delta=float("nan"))
    with pytest.raises(ConfigError, match=r"ProgressBar: log_every_n_steps must be an int >= 1; got 0"):
        ProgressBar(log_every_n_steps=0)


def test_epoch_items_without_source_shares_is_refused_not_ignored(capsys):
    with pytest.raises(ConfigError, match=r"TrainerConfig.epoch_items must be None without source_shares"):
        TrainerConfig(epoch_items=1000)
    TrainerConfig(epoch_items=1000, source_shares=(0.5, 0.5))
    assert main(["train", "--data", str(MINI_ROOT), "--epoch-items", "1000"]) == 2
    assert "epoch_items must be None without source_shares" in capsys.readouterr().err


def test_a_root_or_a_dataset_given_twice_is_refused(tmp_path, capsys):
    args = ["train", "--out", str(tmp_path / "runs"), "--name", "r", "--data", str(MINI_ROOT)]
    assert main([*args, "--data", str(MINI_ROOT)]) == 2
    assert f"Data root {MINI_ROOT} is given twice" in capsys.readouterr().err
    (tmp_path / "alias").symlink_to(MINI_ROOT)
    assert main([*args, "--data", str(tmp_path / "alias")]) == 2
    assert "is given twice" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before the run folder was made
    train = ISIC2017Dataset(MINI_ROOT, "train")
    with pytest.raises(ConfigError, match=r"Sources 'a' and 'b' are the same dataset"):
        MultiSourceDataset({"a": train, "b": train})
    with pytest.raises(ConfigError, match=r"Sources 'a' and 'b' share 4 image id\(s\) \(e.g. ISIC_"):
        MultiSourceDataset({"a": train, "b": ISIC2017Dataset(MINI_ROOT, "train")})


def test_a_ham10000_root_given_first_is_named_as_such(tmp_path, capsys):
    ham = write_ham(tmp_path / "ham")
    assert main(["train", "--out", str(tmp_path / "runs"), "--data", str(ham), "--data", str(MINI_ROOT)]) == 2
    err = capsys.readouterr().err
    assert "The first --data (data.root) must be an ISIC 2017 root" in err and f"{ham} is HAM10000" in err
    assert f"(--data {MINI_ROOT} --data {ham})" in err
    assert not (tmp_path / "runs").exists()


def test_inputs_that_once_reached_internal_error_are_named(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"The data root must be a folder path \(str or pathlib.Path\); got int 123"):
        ISIC2017Dataset(123, "train")
    with pytest.raises(ConfigError, match=r"got int 123"):
        data_root_kind(123)
    with pytest.raises(ConfigError, match=r"got int 123"):
        check_dataset(123)
    with pytest.raises(ConfigError, match=r"'extra' in x.json must be an object of run settings .*; got list \[1\]"):
        RunConfig.from_dict({"epochs": 1, "extra": [1]}, source="x.json")
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"epochs": 1, "extra": ["a"]}))
    assert main(["train", "--config", str(legacy), "--data", str(MINI_ROOT)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "'extra' in" in err
    ham = write_ham(tmp_path / "t3", layout="task3")
    groups = ham / "ISIC2018_Task3_Training_LesionGroupings.csv"
    lines = groups.read_text().splitlines()
    groups.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert main(["check", str(ham)]) == 1
    out = capsys.readouterr()
    assert "internal error" not in out.err and f"{groups}, line {len(lines) + 1}:" in out.out
    assert "is listed again (first on line 2)" in out.out


def test_check_calls_a_ham10000_root_without_masks_an_error(tmp_path, capsys):
    ham = write_ham(tmp_path / "ham", masks=False)
    assert main(["check", str(ham)]) == 1
    assert "holds no image that can be trained on (15 images without a mask)" in capsys.readouterr().out


def test_a_negative_value_reaches_the_flags_own_check(capsys):
    assert main(["train", "--data", str(MINI_ROOT), "--source-shares", "-0.5,1.5"]) == 2
    err = capsys.readouterr().err
    assert "expected one argument" not in err and "source_shares must be positive shares that sum to 1" in err


def test_a_split_never_comes_out_empty_on_a_small_root(tmp_path):
    ham = write_ham(tmp_path / "ham")
    from isicseg import HAM10000Dataset

    val = HAM10000Dataset(ham, "validation", val_fraction=0.5)
    train = HAM10000Dataset(ham, "train", val_fraction=0.5)
    assert len(val) and len(train) and not set(val.lesion_ids) & set(train.lesion_ids)
    shutil.rmtree(ham)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: check_dataset(MINI_ROOT, decode_size=-1),
            r"check_dataset: decode_size must be an int in \[16, 4096\]",
        ),
        (lambda: LesionCropClassifier(0, 3, margin=-1.0), r"LesionCropClassifier: margin must be a number in \[0, 2\]"),
        (lambda: LesionCropClassifier(0, 3, jitter=float("nan")), r"jitter must be a number in \[0, 1\]; got nan"),
        (lambda: LesionCropClassifier(0, 3, crop_size=0), r"crop_size must be an int in \[8, 1024\]; got 0"),
        (lambda: LesionCropClassifier(0, 3, l2=-1.0), r"l2 must be a number >= 0; got -1.0"),
        (lambda: LesionCropClassifier(0, 3, max_samples=0), r"max_samples must be an int >= 1; got 0"),
        (lambda: upsample_mask(torch.rand(4, 4), (8, 8), threshold=2.0), r"threshold must be a number in \[0, 1\]"),
        (
            lambda: export_model(build_mask_rcnn(3, **TINY, label_scheme="binary"), "x.pt", example_size=(0, 3)),
            r"export: example_size's sides must be an int in \[16, 4096\]; got 0",
        ),
    ],
)
def test_other_public_numbers_are_checked(call, match):
    with pytest.raises(ConfigError, match=match):
        call()
