"""Box operations and detection batching shared by the data pipeline, transforms, the engine, evaluation and metrics.

Boxes are ``(x1, y1, x2, y2)`` in pixel-edge coordinates: pixel ``(row r, column c)``
covers ``[c, c + 1) x [r, r + 1)``, so the tight box of a mask whose foreground spans
columns ``c0..c1`` is ``x1 = c0, x2 = c1 + 1``. This is the convention under which
``transforms.v2`` flips and resizes boxes and masks consistently, and it never yields a
zero-area box for a non-empty mask (torchvision's :func:`~torchvision.ops.masks_to_boxes`
returns ``x2 = c1``, one pixel short, and a single-pixel mask gets an empty box).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision.ops import masks_to_boxes as _tv_masks_to_boxes

from .exceptions import ConfigError

__all__ = ["collate", "masks_to_boxes", "per_shape"]


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of binary masks.

    Args:
        masks: ``(N, H, W)`` tensor; nonzero pixels are foreground. Every mask must have
            at least one foreground pixel.

    Returns:
        ``(N, 4)`` float32 boxes ``(x1, y1, x2, y2)`` in pixel-edge coordinates.

    Raises:
        ConfigError: If ``masks`` is not 3-D or a mask is empty.

    Example:
        >>> m = torch.zeros(1, 4, 5, dtype=torch.uint8)
        >>> m[0, 1:3, 2] = 1
        >>> masks_to_boxes(m).tolist()
        [[2.0, 1.0, 3.0, 3.0]]
    """
    if masks.ndim != 3:
        raise ConfigError(f"masks must have shape (N, H, W), got shape {tuple(masks.shape)}.")
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    empty = masks.flatten(1).amax(dim=1) == 0
    if bool(empty.any()):
        raise ConfigError(f"masks {empty.nonzero().flatten().tolist()} are empty; an empty mask has no box.")
    boxes = _tv_masks_to_boxes(masks != 0).to(torch.float32)
    return boxes + torch.tensor([0.0, 0.0, 1.0, 1.0], device=boxes.device)


def collate(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[tuple[Any, ...], tuple[dict[str, Any], ...]]:
    """Detection batches are lists: images may differ in size.

    Raises:
        ConfigError: For an item that is not an ``(image, target)`` pair with a target dict
            holding ``boxes`` and ``labels`` (torchvision's detection contract).
    """
    for item in batch:
        if not (
            isinstance(item, (tuple, list))
            and len(item) == 2
            and isinstance(item[1], dict)
            and {"boxes", "labels"} <= set(item[1])
        ):
            raise ConfigError(
                f"A dataset item is {type(item).__name__} {str(item)[:60]!r}; expected an (image, target) pair "
                "whose target is a dict "
                f"with 'boxes' and 'labels' (and 'masks' for Mask R-CNN), torchvision's detection contract."
            )
    return tuple(zip(*batch))  # type: ignore[return-value]


def per_shape(
    function: Callable[..., Sequence[Any]], images: Sequence[torch.Tensor], *per_image: Sequence[Any]
) -> list[Any]:
    """``function(images, *per_image)`` run once per group of images of one shape, results in input order.

    torchvision's detection models pad every image of a batch to the batch's largest size
    (rounded up to a multiple of 32), and the padding changes the features, the anchors and
    so the answers near the image's borders: an image's answer would depend on the images
    beside it. Images of one shape are padded alike whether alone or together, so running
    each shape as its own batch gives every image the answer it gets alone.

    Args:
        function: Maps a list of images (and the matching items of each ``per_image``
            sequence) to one result per image, e.g. an eval-mode detection model.
        images: Tensors whose ``shape`` groups them.
        per_image: Sequences as long as ``images`` (boxes, targets ...), split alongside.

    Raises:
        ConfigError: If a ``per_image`` sequence is not as long as ``images``, or ``function``
            does not give one result per image.

    Example:
        >>> sizes = per_shape(lambda batch: [len(batch)] * len(batch), [torch.zeros(3, 4, 4), torch.zeros(3, 4, 6),
        ...     torch.zeros(3, 4, 4)])
        >>> sizes  # the two 4x4 images went together, the 4x6 one alone
        [2, 1, 2]
    """
    lengths = [len(items) for items in per_image]
    if any(n != len(images) for n in lengths):
        raise ConfigError(
            f"per_shape: every per_image sequence needs one item per image ({len(images)}); got {lengths}."
        )
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(k)
    results: list[Any] = [None] * len(images)
    for members in groups.values():
        outputs = function([images[k] for k in members], *([items[k] for k in members] for items in per_image))
        if len(outputs) != len(members):
            raise ConfigError(
                f"per_shape: the function gave {len(outputs)} results for a batch of {len(members)} images of shape "
                f"{tuple(images[members[0]].shape)}; it must give one per image."
            )
        for k, output in zip(members, outputs):
            results[k] = output
    return results
