"""Properties of mask -> box (isicseg.ops.masks_to_boxes and the dataset's targets)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import tv_tensors
from torchvision.transforms import v2

from isicseg.data import make_target
from isicseg.ops import masks_to_boxes
from isicseg.transforms import RandomRot90

from ..strategies import binary_masks


def box_of(mask: np.ndarray) -> list[float]:
    return masks_to_boxes(torch.from_numpy(mask)[None])[0].tolist()


@given(binary_masks())
def test_box_contains_every_foreground_pixel(mask):
    x1, y1, x2, y2 = box_of(mask)
    rows, cols = np.nonzero(mask)
    # pixel (r, c) covers [c, c+1) x [r, r+1)
    assert (cols >= x1).all() and (cols + 1 <= x2).all()
    assert (rows >= y1).all() and (rows + 1 <= y2).all()


@given(binary_masks())
def test_box_is_tight(mask):
    x1, y1, x2, y2 = (int(v) for v in box_of(mask))
    # every edge row and column of the box holds a foreground pixel
    assert mask[y1, x1:x2].any() and mask[y2 - 1, x1:x2].any()
    assert mask[y1:y2, x1].any() and mask[y1:y2, x2 - 1].any()
    assert mask[y1:y2, x1:x2].sum() == mask.sum()


@given(binary_masks())
def test_box_inside_image_with_positive_area(mask):
    x1, y1, x2, y2 = box_of(mask)
    height, width = mask.shape
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


@given(binary_masks(), st.booleans())
def test_box_follows_flips(mask, horizontal):
    height, width = mask.shape
    x1, y1, x2, y2 = box_of(mask)
    if horizontal:
        assert box_of(mask[:, ::-1].copy()) == [width - x2, y1, width - x1, y2]
    else:
        assert box_of(mask[::-1].copy()) == [x1, height - y2, x2, height - y1]


@given(binary_masks(max_side=12), st.integers(0, 6), st.integers(0, 6))
def test_box_follows_translation(mask, dy, dx):
    height, width = mask.shape
    shifted = np.zeros((height + dy, width + dx), np.uint8)
    shifted[dy:, dx:] = mask
    x1, y1, x2, y2 = box_of(mask)
    assert box_of(shifted) == [x1 + dx, y1 + dy, x2 + dx, y2 + dy]


@settings(max_examples=40, deadline=None)
@given(binary_masks(min_side=2, max_side=16), st.integers(0, 3))
def test_torchvision_flip_and_rot90_keep_target_boxes_tight(mask, k):
    """transforms.v2 moves the target's box exactly as the mask, under our box convention."""
    target = make_target(mask, 1, image_id="x")
    image = tv_tensors.Image(torch.zeros(3, *mask.shape))
    transform = v2.Compose([v2.RandomHorizontalFlip(p=1.0), RandomRot90(p=1.0)])
    torch.manual_seed(k)
    _, out = transform(image, target)
    assert out["boxes"].tolist() == masks_to_boxes(out["masks"].as_subclass(torch.Tensor)).tolist()
