from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from isicseg import ISIC2017Dataset
from isicseg.data import make_target
from isicseg.exceptions import UnknownNameError
from isicseg.ops import masks_to_boxes
from isicseg.transforms import BoxesFromMasks, RandomRot90, get_transform, list_transforms


def sample(h=40, w=60):
    mask = np.zeros((h, w), np.uint8)
    mask[5:20, 30:58] = 1
    return tv_tensors.Image(torch.rand(3, h, w)), make_target(mask, 2, image_id="x")


def test_presets_registered():
    assert list_transforms() == ["eval", "train"]
    with pytest.raises(
        UnknownNameError, match="Unknown transform 'training'. Available: eval, train. Did you mean 'train'"
    ):
        get_transform("training")


def test_train_preset_keeps_masks_boxes_and_image_together():
    torch.manual_seed(0)
    transform = get_transform("train")
    seen_shapes = set()
    for _ in range(30):
        image, target = transform(*sample())
        seen_shapes.add(tuple(image.shape[-2:]))
        assert image.shape[-2:] == target["masks"].shape[-2:]
        assert target["boxes"].canvas_size == tuple(image.shape[-2:])
        if target["masks"].shape[0]:
            assert torch.equal(target["boxes"].as_subclass(torch.Tensor), masks_to_boxes(target["masks"]))
            assert (target["boxes"][:, 2:] > target["boxes"][:, :2]).all()
            assert target["area"].item() == target["masks"].sum().item()
        assert set(torch.unique(target["masks"]).tolist()) <= {0, 1}
    assert seen_shapes == {(40, 60), (60, 40)}  # quarter turns happen


def test_rot90_moves_boxes_exactly_like_masks():
    image, target = sample()
    for k in range(4):
        boxes = RandomRot90(p=1.0).transform(target["boxes"], {"k": k})
        rotated_mask = torch.rot90(target["masks"], k, dims=(-2, -1))
        assert boxes.tolist() == masks_to_boxes(rotated_mask).tolist()
        assert boxes.canvas_size == tuple(rotated_mask.shape[-2:])


def test_boxes_from_masks_drops_instances_that_left_the_image():
    image, target = sample()
    target["masks"] = tv_tensors.Mask(torch.zeros_like(target["masks"]))
    _, out = BoxesFromMasks()(image, target)
    assert out["boxes"].shape == (0, 4) and out["labels"].numel() == 0 and out["iscrowd"].numel() == 0


def test_eval_preset_resizes_only(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "test", transforms=get_transform("eval", image_size=48))
    plain = ISIC2017Dataset(synthetic_root, "test")
    image, target = ds[0]
    assert image.shape == (3, 48, 64) and target["masks"].shape == (1, 48, 64)
    assert torch.equal(get_transform("eval")(*plain[0])[0], plain[0][0])
