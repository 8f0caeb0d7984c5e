"""Properties of box IoU and mask IoU."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from isicseg.metrics import box_iou, jaccard_index, mask_iou

from ..strategies import binary_masks, boxes, mask_pairs


@given(boxes(), boxes())
def test_box_iou_bounds_and_symmetry(a, b):
    forward, backward = float(box_iou([a], [b])), float(box_iou([b], [a]))
    assert 0.0 <= forward <= 1.0 + 1e-6
    assert abs(forward - backward) < 1e-6


@given(boxes())
def test_box_iou_identity(a):
    assert abs(float(box_iou([a], [a])) - 1.0) < 1e-5


@given(boxes(max_coord=50), st.floats(0, 50))
def test_box_iou_disjoint_is_zero(a, gap):
    width = a[2] - a[0]
    b = [a[2] + gap, a[1], a[2] + gap + width, a[3]]  # to the right, touching at most
    assert float(box_iou([a], [b])) == 0.0


@given(mask_pairs())
def test_mask_iou_bounds_symmetry_and_jaccard(pair):
    a, b = pair
    forward = float(mask_iou(a[None], b[None]))
    assert 0.0 <= forward <= 1.0
    assert forward == float(mask_iou(b[None], a[None]))
    if (a | b).any():  # where the union is not empty, mask IoU is the Jaccard index
        assert abs(forward - jaccard_index(a, b)) < 1e-6


@given(binary_masks())
def test_mask_iou_identity(mask):
    assert float(mask_iou(mask[None], mask[None])) == 1.0


@given(binary_masks())
def test_mask_iou_disjoint_is_zero(mask):
    assert float(mask_iou(mask[None], (1 - mask)[None])) == 0.0


@given(mask_pairs())
def test_mask_iou_matrix_matches_pairs(pair):
    a, b = pair
    stack = np.stack([a, b])
    matrix = mask_iou(torch.from_numpy(stack), torch.from_numpy(stack))
    assert matrix.shape == (2, 2)
    assert torch.allclose(matrix, matrix.T)
