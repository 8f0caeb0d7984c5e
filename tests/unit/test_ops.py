"""Box helpers and batching of isicseg.ops."""

from __future__ import annotations

import pytest
import torch

from isicseg.exceptions import ConfigError
from isicseg.ops import masks_to_boxes


def test_masks_to_boxes_errors():
    with pytest.raises(ValueError, match=r"masks must have shape \(N, H, W\), got shape \(4, 4\)"):
        masks_to_boxes(torch.ones(4, 4))
    masks = torch.zeros(2, 4, 4)
    masks[0, 1, 1] = 1
    with pytest.raises(ValueError, match=r"masks \[1\] are empty; an empty mask has no box"):
        masks_to_boxes(masks)
    assert masks_to_boxes(torch.zeros(0, 4, 4)).shape == (0, 4)


def test_per_shape_batches_each_shape_keeps_the_order_and_refuses_mismatched_lengths():
    from isicseg.ops import per_shape

    images = [torch.zeros(3, 4, 4), torch.zeros(3, 4, 6), torch.ones(3, 4, 4)]
    seen = []

    def function(batch, tags):
        seen.append(tags)
        return [f"{tag}:{len(batch)}:{int(image.sum())}" for image, tag in zip(batch, tags)]

    assert per_shape(function, images, ["a", "b", "c"]) == ["a:2:0", "b:1:0", "c:2:48"]
    assert seen == [["a", "c"], ["b"]]
    with pytest.raises(ConfigError, match=r"^per_shape: every per_image sequence needs one item per image \(3\); "):
        per_shape(function, images, ["a", "b"])
    with pytest.raises(ConfigError, match=r"the function gave 1 results for a batch of 2 images of shape \(3, 4, 4\)"):
        per_shape(lambda batch: batch[:1], images)
