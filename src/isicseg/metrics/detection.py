"""Box and mask IoU matrices."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou as _tv_box_iou

from ..exceptions import ConfigError
from .segmentation import ArrayLike, _numpy, as_binary_mask

__all__ = ["box_iou", "mask_iou"]


def _boxes(boxes: ArrayLike, name: str) -> torch.Tensor:
    """``boxes`` as an ``(N, 4)`` float tensor; one box may be given as ``(4,)``."""
    try:
        tensor = torch.as_tensor(
            np.asarray(boxes, dtype=np.float32) if not isinstance(boxes, torch.Tensor) else boxes, dtype=torch.float32
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"{name} must be (N, 4) boxes (x1, y1, x2, y2) of numbers; got {boxes!r} ({error})."
        ) from None
    if tensor.ndim == 1 and tensor.numel() in (0, 4):
        tensor = tensor.reshape(-1, 4)
    if tensor.ndim != 2 or tensor.shape[1] != 4:
        raise ConfigError(f"{name} must be (N, 4) boxes (x1, y1, x2, y2); got shape {tuple(tensor.shape)}.")
    return tensor


def box_iou(boxes1: ArrayLike, boxes2: ArrayLike) -> torch.Tensor:
    """Pairwise IoU of XYXY boxes: ``(N, 4)`` and ``(M, 4)`` give ``(N, M)``.

    Wraps :func:`torchvision.ops.box_iou`; boxes without area have IoU 0 with anything.

    Args:
        boxes1: ``(N, 4)`` boxes ``(x1, y1, x2, y2)``.
        boxes2: ``(M, 4)`` boxes.

    Example:
        >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]]).tolist()
        [[0.1428571492433548, 1.0]]
    """
    a, b = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    return torch.nan_to_num(_tv_box_iou(a, b), nan=0.0)


def mask_iou(masks1: ArrayLike, masks2: ArrayLike) -> torch.Tensor:
    """Pairwise IoU of masks: ``(N, H, W)`` and ``(M, H, W)`` give ``(N, M)``.

    Two empty masks have IoU 0 here (they overlap nowhere); use :func:`jaccard_index`
    for the ISIC per-image score, where two empty masks score 1.

    Args:
        masks1: ``(N, H, W)`` masks.
        masks2: ``(M, H, W)`` masks of the same height and width.

    Example:
        >>> a = torch.tensor([[[1, 1], [0, 0]]]); b = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [1, 1]]])
        >>> mask_iou(a, b).tolist()
        [[0.5, 0.0]]
    """
    a = torch.from_numpy(as_binary_mask(masks1)).flatten(1).to(torch.float32)
    b = torch.from_numpy(as_binary_mask(masks2)).flatten(1).to(torch.float32)
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"masks must share their height and width; got {tuple(_numpy(masks1).shape)} and "
            f"{tuple(_numpy(masks2).shape)}."
        )
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
