"""Pure metric functions with the ISIC 2017 challenge definitions.

Arrays or tensors in, numbers out, no hidden state. Masks may be boolean, integer or
float:

* boolean masks are taken as they are;
* integer masks holding only 0 and 1 are taken as they are; other integer masks follow
  the rule for ISIC 8-bit mask files: a pixel is foreground when its value is > 128;
* float masks (probabilities) are foreground where > 0.5.

Segmentation scores are per image, from the confusion counts; a dataset's score is the
mean of its images' scores (the Part 1 ranking metric is the mean Jaccard index).
Classification scores take the ground truth (0/1) and a probability per image for one
category; the Part 3 ranking metric is the mean of the melanoma and seborrheic
keratosis AUCs. Where a score is undefined (e.g. AUC when the ground truth holds one
class only) the functions return ``nan`` instead of raising, and summaries report it as
missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou as _tv_box_iou

from .registry import Registry

__all__ = [
    "METRICS",
    "SEGMENTATION_SCORES",
    "as_binary_mask",
    "confusion_counts",
    "jaccard_index",
    "dice_coefficient",
    "thresholded_jaccard",
    "pixel_accuracy",
    "pixel_sensitivity",
    "pixel_specificity",
    "segmentation_scores",
    "roc_auc",
    "roc_curve",
    "average_precision",
    "binary_classification_scores",
    "specificity_at_sensitivity",
    "box_iou",
    "mask_iou",
]

METRICS: Registry[Any] = Registry("metrics")
"""Per-image segmentation metrics by name, each a function ``f(pred, target) -> float``. Metrics added
here (or through the ``isicseg.metrics`` entry-point group) appear as extra columns in
:func:`segmentation_scores` and in :func:`isicseg.evaluate`'s table."""

ArrayLike = Any


def _numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_binary_mask(mask: ArrayLike) -> np.ndarray:
    """Boolean foreground of a mask, by the rules in the module description.

    Args:
        mask: A mask of any dtype and shape.

    Example:
        >>> as_binary_mask(np.array([0, 128, 129, 255], dtype=np.uint8)).tolist()
        [False, False, True, True]
        >>> as_binary_mask(np.array([0, 1], dtype=np.uint8)).tolist()
        [False, True]
    """
    mask = _numpy(mask)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        if mask.size and (mask.max() > 1 or mask.min() < 0):
            return mask > 128
        return mask > 0
    return mask > 0.5


def confusion_counts(pred: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts ``(tp, fp, fn, tn)`` per image.

    Args:
        pred: Predicted mask ``(H, W)`` or masks ``(N, H, W)``.
        target: Ground-truth mask(s) of the same shape.

    Returns:
        Four int64 arrays: scalars for one mask, shape ``(N,)`` for a stack.

    Example:
        >>> [int(c) for c in confusion_counts([[1, 1, 0, 0]], [[1, 0, 1, 0]])]
        [1, 1, 1, 1]
    """
    p, t = as_binary_mask(pred), as_binary_mask(target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target masks must have the same shape; got {p.shape} and {t.shape}.")
    axes = (-2, -1) if p.ndim >= 2 else None
    tp = np.asarray(np.count_nonzero(p & t, axis=axes), np.int64)
    fp = np.count_nonzero(p, axis=axes) - tp
    fn = np.count_nonzero(t, axis=axes) - tp
    tn = (p.shape[-2] * p.shape[-1] if p.ndim >= 2 else p.size) - tp - fp - fn
    return tp, np.asarray(fp, np.int64), np.asarray(fn, np.int64), np.asarray(tn, np.int64)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray | float:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.where(den > 0, num / np.where(den > 0, den, 1), empty)
    return float(out) if out.ndim == 0 else out


def _jaccard(tp, fp, fn, tn):
    return _ratio(tp, tp + fp + fn, 1.0)


def _thresholded(tp, fp, fn, tn, threshold: float = 0.65):
    j = np.asarray(_jaccard(tp, fp, fn, tn))
    out = np.where(j >= threshold, j, 0.0)
    return float(out) if out.ndim == 0 else out


# Each per-image score as a function of the confusion counts (tp, fp, fn, tn).
_FROM_COUNTS = {
    "jaccard": _jaccard,
    "dice": lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
    "thresholded_jaccard": _thresholded,
    "pixel_accuracy": lambda tp, fp, fn, tn: _ratio(tp + tn, tp + fp + fn + tn, 1.0),
    "pixel_sensitivity": lambda tp, fp, fn, tn: _ratio(tp, tp + fn, 1.0),
    "pixel_specificity": lambda tp, fp, fn, tn: _ratio(tn, tn + fp, 1.0),
}
SEGMENTATION_SCORES: tuple[str, ...] = tuple(_FROM_COUNTS)
"""Names of the six ISIC per-image segmentation scores, in report order."""


def jaccard_index(pred: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Jaccard index (IoU) ``tp / (tp + fp + fn)``; 1 when both masks are empty.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> jaccard_index([[1, 1, 0, 0]], [[1, 0, 1, 0]])
        0.3333333333333333
    """
    return _jaccard(*confusion_counts(pred, target))


def dice_coefficient(pred: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Dice coefficient ``2 tp / (2 tp + fp + fn)``; 1 when both masks are empty.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> dice_coefficient([[1, 1, 0, 0]], [[1, 0, 1, 0]])
        0.5
    """
    return _FROM_COUNTS["dice"](*confusion_counts(pred, target))


def thresholded_jaccard(pred: ArrayLike, target: ArrayLike, threshold: float = 0.65) -> np.ndarray | float:
    """Jaccard index where it is >= ``threshold``, else 0 (the ISIC 2018 ranking rule).

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.
        threshold: Smallest Jaccard index that is kept.

    Example:
        >>> thresholded_jaccard([[1, 1, 1, 0]], [[1, 1, 1, 1]]), thresholded_jaccard([[1, 1, 0, 0]], [[1, 1, 1, 1]])
        (0.75, 0.0)
    """
    return _thresholded(*confusion_counts(pred, target), threshold=threshold)


def pixel_accuracy(pred: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Share of pixels labelled correctly, ``(tp + tn) / all``.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> pixel_accuracy([[1, 1, 0, 0]], [[1, 0, 1, 0]])
        0.5
    """
    return _FROM_COUNTS["pixel_accuracy"](*confusion_counts(pred, target))


def pixel_sensitivity(pred: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Share of lesion pixels found, ``tp / (tp + fn)``; 1 when the target has none.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> pixel_sensitivity([[1, 0, 0, 0]], [[1, 1, 0, 0]])
        0.5
    """
    return _FROM_COUNTS["pixel_sensitivity"](*confusion_counts(pred, target))


def pixel_specificity(pred: ArrayLike, target: ArrayLike) -> np.ndarray | float:
    """Share of skin pixels kept as skin, ``tn / (tn + fp)``; 1 when the target is all lesion.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> pixel_specificity([[1, 1, 1, 0]], [[1, 0, 0, 0]])
        0.3333333333333333
    """
    return _FROM_COUNTS["pixel_specificity"](*confusion_counts(pred, target))


def segmentation_scores(pred: ArrayLike, target: ArrayLike) -> dict[str, np.ndarray | float]:
    """The six ISIC per-image segmentation scores from one pass over the pixels, plus
    every metric users registered in :data:`METRICS`.

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.

    Example:
        >>> s = segmentation_scores([[1, 1, 0, 0]], [[1, 0, 1, 0]])
        >>> round(s["jaccard"], 3), s["dice"], s["pixel_accuracy"]
        (0.333, 0.5, 0.5)
    """
    counts = confusion_counts(pred, target)
    scores = {name: formula(*counts) for name, formula in _FROM_COUNTS.items()}
    for name in METRICS.names():
        if name not in scores:
            scores[name] = METRICS.get(name)(pred, target)
    return scores


for _name, _function in (
    ("jaccard", jaccard_index),
    ("dice", dice_coefficient),
    ("thresholded_jaccard", thresholded_jaccard),
    ("pixel_accuracy", pixel_accuracy),
    ("pixel_sensitivity", pixel_sensitivity),
    ("pixel_specificity", pixel_specificity),
):
    METRICS.register(_name, _function)


# ---------------------------------------------------------------------------------------
# Classification


def _binary_inputs(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _numpy(y_true).astype(np.float64).ravel()
    s = _numpy(scores).astype(np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length; got {y.size} and {s.size}.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y_true must hold only 0 and 1; got values {sorted(set(y.tolist()))[:5]}.")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite.")
    return y.astype(bool), s


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve; tied scores of a positive and a negative count one half.

    Equals the probability that a random positive scores above a random negative
    (Mann-Whitney U). Returns ``nan`` when ``y_true`` holds only one class.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: The category's probability (or any score) per image.

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
        >>> roc_auc([0, 1], [0.5, 0.5])
        0.5
    """
    y, s = _binary_inputs(y_true, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks (1-based) over runs of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    run_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(run_rank, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points ``(false positive rate, true positive rate, thresholds)``.

    A case is called positive when its score is >= the threshold; thresholds are the
    distinct scores from high to low, preceded by ``inf`` (nothing called positive).
    Rates are ``nan`` for a class absent from ``y_true`` (both, for no case at all).

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: The category's probability (or any score) per image.

    Example:
        >>> fpr, tpr, thr = roc_curve([0, 1, 1], [0.2, 0.6, 0.9])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    y, s = _binary_inputs(y_true, scores)
    if not len(y):
        return np.array([np.nan]), np.array([np.nan]), np.array([np.inf])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tps = np.r_[0, np.cumsum(y)[last_of_run]]
    fps = np.r_[0, np.cumsum(~y)[last_of_run]]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tps / tps[-1] if tps[-1] else np.full(len(tps), np.nan)
        fpr = fps / fps[-1] if fps[-1] else np.full(len(fps), np.nan)
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Average precision, step-wise without interpolation: ``sum (R_n - R_(n-1)) P_n``.

    Thresholds are the distinct scores (tied cases enter together). Returns ``nan`` when
    ``y_true`` has no positive.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: The category's probability (or any score) per image.

    Example:
        >>> average_precision([0, 1, 1, 0], [0.9, 0.8, 0.7, 0.1])
        0.5833333333333333
    """
    y, s = _binary_inputs(y_true, scores)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tps = np.cumsum(y)[last_of_run]
    called = last_of_run + 1
    precision = tps / called
    recall = tps / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def specificity_at_sensitivity(y_true: ArrayLike, scores: ArrayLike, sensitivity: float) -> float:
    """Best specificity among the thresholds whose sensitivity is at least ``sensitivity``.

    ISIC 2017 reported it at sensitivities 0.82, 0.89 and 0.95. ``nan`` when
    ``y_true`` holds one class only.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: The category's probability (or any score) per image.
        sensitivity: The sensitivity to reach, e.g. 0.89.

    Example:
        >>> specificity_at_sensitivity([0, 0, 1, 1], [0.1, 0.5, 0.4, 0.9], 0.95)
        0.5
    """
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, (int, float)) or not 0 <= sensitivity <= 1:
        raise ValueError(f"sensitivity must be a number in [0, 1]; got {sensitivity!r}.")
    fpr, tpr, _ = roc_curve(y_true, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    reach = tpr >= sensitivity - 1e-12
    return float(np.max(1 - fpr[reach]))


def binary_classification_scores(y_true: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> dict[str, float]:
    """ISIC 2017 Part 3 scores of one category.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: Probability of the category per image.
        threshold: A case is called positive when its score is > ``threshold``.

    Returns:
        ``auc``, ``average_precision``, ``accuracy``, ``sensitivity``, ``specificity``,
        ``precision`` (0 when nothing is called positive) and ``spec_at_sens_82``,
        ``spec_at_sens_89``, ``spec_at_sens_95``. Rates whose denominator is empty are ``nan``.

    Example:
        >>> s = binary_classification_scores([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        >>> s["accuracy"], s["sensitivity"], s["specificity"], round(s["precision"], 3)
        (0.75, 1.0, 0.5, 0.667)
    """
    y, s = _binary_inputs(y_true, scores)
    called = s > threshold
    tp, fp = int((called & y).sum()), int((called & ~y).sum())
    fn, tn = int((~called & y).sum()), int((~called & ~y).sum())
    nan = float("nan")
    return {
        "auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "accuracy": (tp + tn) / len(y) if len(y) else nan,
        "sensitivity": tp / (tp + fn) if tp + fn else nan,
        "specificity": tn / (tn + fp) if tn + fp else nan,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "spec_at_sens_82": specificity_at_sensitivity(y, s, 0.82),
        "spec_at_sens_89": specificity_at_sensitivity(y, s, 0.89),
        "spec_at_sens_95": specificity_at_sensitivity(y, s, 0.95),
    }


# ---------------------------------------------------------------------------------------
# Detection


def _boxes(boxes: ArrayLike, name: str) -> torch.Tensor:
    """``boxes`` as an ``(N, 4)`` float tensor; one box may be given as ``(4,)``."""
    try:
        tensor = torch.as_tensor(np.asarray(boxes, dtype=np.float32) if not isinstance(boxes, torch.Tensor) else boxes, dtype=torch.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be (N, 4) boxes (x1, y1, x2, y2) of numbers; got {boxes!r} ({error}).") from None
    if tensor.ndim == 1 and tensor.numel() in (0, 4):
        tensor = tensor.reshape(-1, 4)
    if tensor.ndim != 2 or tensor.shape[1] != 4:
        raise ValueError(f"{name} must be (N, 4) boxes (x1, y1, x2, y2); got shape {tuple(tensor.shape)}.")
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
        raise ValueError(f"masks must share their height and width; got {tuple(_numpy(masks1).shape)} and {tuple(_numpy(masks2).shape)}.")
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
