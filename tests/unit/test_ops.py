"""Box helpers of isicseg.ops."""

from __future__ import annotations

import pytest
import torch

from isicseg.ops import masks_to_boxes


def test_masks_to_boxes_errors():
    with pytest.raises(ValueError, match=r"masks must have shape \(N, H, W\), got shape \(4, 4\)"):
        masks_to_boxes(torch.ones(4, 4))
    masks = torch.zeros(2, 4, 4)
    masks[0, 1, 1] = 1
    with pytest.raises(ValueError, match=r"masks \[1\] are empty; an empty mask has no box"):
        masks_to_boxes(masks)
    assert masks_to_boxes(torch.zeros(0, 4, 4)).shape == (0, 4)
