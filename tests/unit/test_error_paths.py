"""Error paths not covered next to their features: each says what, got, allowed, and names the file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from isicseg import build_mask_rcnn
from isicseg.cli import main
from isicseg.data import check_dataset
from isicseg.data.io import read_mask
from isicseg.data.layout import split_paths
from isicseg.config import RunConfig
from isicseg.engine import EpochBatchSampler, load_checkpoint
from isicseg.run import train_run
from isicseg.evaluation import score_submission
from isicseg.exceptions import ConfigError, DatasetError, WeightsError
from isicseg.ops import masks_to_boxes

from ..conftest import MINI_ROOT

LIGHT = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96}


def test_masks_to_boxes_errors():
    with pytest.raises(ValueError, match=r"masks must have shape \(N, H, W\), got shape \(4, 4\)"):
        masks_to_boxes(torch.ones(4, 4))
    masks = torch.zeros(2, 4, 4)
    masks[0, 1, 1] = 1
    with pytest.raises(ValueError, match=r"masks \[1\] are empty; an empty mask has no box"):
        masks_to_boxes(masks)
    assert masks_to_boxes(torch.zeros(0, 4, 4)).shape == (0, 4)


def test_truncated_mask_png(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) > 0.5).astype(np.uint8) * 255).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"Mask .*m.png could not be decoded .* corrupt or truncated"):
        read_mask(path)


def test_check_reports_empty_mask(mini_root):
    mask = split_paths(mini_root, "validation").mask_of("ISIC_0014568")
    Image.new("L", Image.open(mask).size).save(mask)
    report = check_dataset(mini_root, ["validation"])
    assert report.errors == [f"Mask {mask} is empty (no pixel is 255)."]


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"Checkpoint .*last.pt could not be loaded with weights_only=True"):
        load_checkpoint(path)


def test_weights_that_do_not_fit(tmp_path):
    state = build_mask_rcnn(3, **LIGHT).state_dict()
    wrong_shape = dict(state)
    wrong_shape["backbone.body.conv1.weight"] = torch.zeros(8, 3, 7, 7)
    torch.save(wrong_shape, tmp_path / "a.pt")
    with pytest.raises(WeightsError, match=r"1 tensors differ in shape, e.g. backbone.body.conv1.weight is \(8, 3, 7, 7\) in the file but \(64, 3, 7, 7\)"):
        build_mask_rcnn(3, pretrained=tmp_path / "a.pt", **LIGHT)
    missing = {k: v for k, v in state.items() if not k.startswith("backbone.fpn.")}
    torch.save(missing, tmp_path / "b.pt")
    with pytest.raises(WeightsError, match=r"tensors missing \(e.g. \['backbone.fpn"):
        build_mask_rcnn(3, pretrained=tmp_path / "b.pt", **LIGHT)


def test_classification_csv_missing_rows(tmp_path):
    paths = split_paths(MINI_ROOT, "validation")
    masks = tmp_path / "masks"
    masks.mkdir()
    for image in paths.images.glob("*.jpg"):
        Image.open(paths.mask_of(image.stem)).save(masks / f"{image.stem}_segmentation.png")
    (tmp_path / "c.csv").write_text("image_id,melanoma,seborrheic_keratosis\nISIC_0014568,0.1,0.9\n")
    with pytest.raises(DatasetError, match=r"c.csv has no row for 1 images \(e.g. ISIC_0014620\)"):
        score_submission(masks, tmp_path / "c.csv", MINI_ROOT, "validation")


def test_sampler_balanced_needs_labels():
    with pytest.raises(ValueError, match="balanced sampling needs the items' labels"):
        EpochBatchSampler(4, 2, balanced=True)


def test_run_without_data_root(tmp_path):
    with pytest.raises(ConfigError, match=r"A run needs a data root: pass --data ROOT"):
        train_run(RunConfig(name="x"), out=tmp_path)


def test_predict_cli_errors(tmp_path, capsys):
    model = build_mask_rcnn(5, **LIGHT)
    weights = tmp_path / "five.pt"
    torch.save({"model": model.state_dict(), "model_config": model.identity.to_dict()}, weights)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(weights), str(empty)]) == 2
    assert f"No .jpg, .jpeg or .png image found in {empty}" in capsys.readouterr().err
    assert main(["predict", str(weights), str(MINI_ROOT / "ISIC-2017_Validation_Data"), "--out", str(tmp_path / "o")]) == 2
    assert "five.pt does not name its label scheme; pass --label-scheme" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_size": 0}, r"min_size must be an int .* in 16..4096, with max_size >= min_size; got min_size=0, max_size=96"),
        ({"min_size": 64.5}, r"got min_size=64.5"),
        ({"min_size": 128, "max_size": 96}, r"got min_size=128, max_size=96"),
        ({"rpn_pre_nms_top_n_tst": 10}, r"Unknown keyword arguments to build_mask_rcnn: 'rpn_pre_nms_top_n_tst' \(did you mean 'rpn_pre_nms_top_n_test'\?\)"),
        ({"colour": 1}, r"Unknown keyword arguments to build_mask_rcnn: 'colour'\. It passes on torchvision MaskRCNN's options: .*box_detections_per_img"),
    ],
)
def test_build_mask_rcnn_refuses_bad_sizes_and_unknown_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_mask_rcnn(3, **{**LIGHT, **kwargs})


def test_summarize_names_the_missing_columns():
    import pandas as pd

    from isicseg.evaluation import summarize

    with pytest.raises(ValueError, match=r"summarize needs the per-image columns evaluate\(\) writes; this table lacks jaccard, .* \(it has no columns\)"):
        summarize(pd.DataFrame(), "three_class")
    from isicseg.metrics import SEGMENTATION_SCORES

    columns = [*SEGMENTATION_SCORES, *(f"{p}_{c}" for c in ("melanoma", "seborrheic_keratosis") for p in ("p", "is"))]
    empty = summarize(pd.DataFrame(columns=columns), "three_class")  # no image: nan and None, no error
    assert empty.n_images == 0 and math.isnan(empty.jaccard) and empty.categories["melanoma"] is None


@pytest.mark.parametrize("content", [b"hello\n", b"<html>Not Found</html>", b""])
def test_a_file_that_is_not_weights_is_a_clear_error(tmp_path, content):
    from isicseg import load_model

    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=rf"Weight file {path} could not be loaded with weights_only=True"):
        load_model(path)
    with pytest.raises(WeightsError, match=rf"Weight file {path} could not be loaded"):
        build_mask_rcnn(3, path, **LIGHT)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"device": "gpu"}, r"TrainerConfig.device must be 'auto', 'cpu', 'cuda', 'cuda:N' or another torch.device string; got 'gpu'"),
     ({"seed": -3}, r"TrainerConfig.seed must be an int >= 0; got -3")],
)
def test_trainer_settings_checked_when_made(kwargs, match):
    from isicseg.engine import TrainerConfig

    with pytest.raises(ConfigError, match=match):
        TrainerConfig(**kwargs)


def test_misspelt_monitor_is_refused_before_training(tmp_path):
    config = RunConfig().replace(root=str(MINI_ROOT), monitor="val_jacard", val_split="validation", backbone="resnet18_fpn", pretrained="none")
    with pytest.raises(ConfigError, match=r"eval.monitor 'val_jacard' is not a metric validation logs \(did you mean 'val_jaccard'\?\); allowed: val_loss, val_jaccard"):
        train_run(config, out=tmp_path)
    assert not (tmp_path / config.name if config.name else tmp_path).joinpath("last.pt").exists()
    assert list(tmp_path.iterdir()) == []  # refused before any folder was made


def test_zero_one_mask_is_named_for_what_it_is(tmp_path):
    path = tmp_path / "m.png"
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 1
    Image.fromarray(mask).save(path)
    for binarize in (False, True):
        with pytest.raises(DatasetError, match=rf"Mask {path} holds only the values 0 and 1: a 0/1 mask, .*save it with 255 for lesion"):
            read_mask(path, binarize=binarize)


def test_max_image_pixels_above_pillows_own_limit_is_honoured(tmp_path, monkeypatch):
    from isicseg.data.io import read_image_size

    path = tmp_path / "big.png"
    Image.new("L", (40, 30)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 1200 pixels (> 2 x 100)
    assert read_image_size(path, max_pixels=2000) == (40, 30)
    assert Image.MAX_IMAGE_PIXELS == 100  # Pillow's setting is left as it was
    with pytest.raises(DatasetError, match=rf"Image {path} is 40x30 = 1,200 pixels, more than the 1,000 allowed \(max_image_pixels\)"):
        read_image_size(path, max_pixels=1000)


@pytest.mark.parametrize("image_size", [10**6, 64.0, True, (1, 2, 3), "256", (100, 0)])
def test_image_size_is_bounded_and_typed(image_size):
    from isicseg import ISIC2017Dataset

    with pytest.raises(ConfigError, match=r"image_size must be a positive int, \(height, width\) of positive ints, or None, each at most 16384; got "):
        ISIC2017Dataset(MINI_ROOT, "validation", image_size=image_size)


def test_output_larger_than_the_bound_is_refused_before_decoding():
    from isicseg.data.io import output_size

    assert output_size(1024, 768, np.int64(256)) == (341, 256)
    with pytest.raises(DatasetError, match=r"image_size 8000 would make a 4000x100 image 320000x8000, more than 16384 pixels a side"):
        output_size(4000, 100, 8000)
