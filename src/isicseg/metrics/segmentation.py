"""Per-image segmentation scores (ISIC 2017 Part 1) from the confusion counts of two masks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._numbers import check_number
from ..exceptions import ConfigError
from ..registry import Registry

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
]

METRICS: Registry[Any] = Registry("metrics")
"""Per-image segmentation metrics by name, each a function ``f(pred, target) -> float``. Metrics added
here (or through the ``isicseg.metrics`` entry-point group) appear as extra columns in
:func:`segmentation_scores` and in :func:`isicseg.evaluate`'s table."""

ArrayLike = Any


def _numpy(x: ArrayLike, name: str = "mask") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if x is None or isinstance(x, (str, bytes)):
        raise ConfigError(f"{name} must be an array or tensor of mask values; got {type(x).__name__} {x!r}.")
    array = np.asarray(x)
    if array.dtype == object or not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise ConfigError(f"{name} must hold numbers or booleans; got an array of dtype {array.dtype}.")
    return array


def as_binary_mask(mask: ArrayLike, *, name: str = "mask") -> np.ndarray:
    """Boolean foreground of a mask, by the rules in the module description.

    Args:
        mask: A mask of any shape: bool; integers 0/1, or an 8-bit mask file's values
            (0-255 with 255 present: foreground > 128); or probabilities in [0, 1]
            (foreground > 0.5).
        name: The argument's name, for messages.

    Raises:
        ConfigError: For any other values (``2``, ``-1``, ``nan``, ``1.5`` ...): such a mask
            is not a mask by any of these rules, and reading it as empty would give a wrong score.

    Example:
        >>> as_binary_mask(np.array([0, 128, 129, 255], dtype=np.uint8)).tolist()
        [False, False, True, True]
        >>> as_binary_mask(np.array([0, 1], dtype=np.uint8)).tolist()
        [False, True]
        >>> as_binary_mask(np.array([0, 2]), name="pred")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: pred holds values that are not mask values (e.g. 2): ...
    """
    mask = _numpy(mask, name)
    if mask.dtype == bool:
        return mask
    if not mask.size:
        return mask.astype(bool)
    if np.issubdtype(mask.dtype, np.integer):
        low, high = int(mask.min()), int(mask.max())
        if 0 <= low and high <= 1:
            return mask > 0
        if 0 <= low and high == 255:
            return mask > 128
        odd = mask[(mask < 0) | (mask > 1)] if high != 255 else mask[mask < 0]
        _refuse(name, odd.flat[0])
    finite = np.isfinite(mask)
    if not finite.all():
        _refuse(name, mask[~finite].flat[0])
    outside = (mask < 0) | (mask > 1)
    if outside.any():
        _refuse(name, mask[outside].flat[0])
    return mask > 0.5


def _refuse(name: str, value: Any) -> None:
    raise ConfigError(
        f"{name} holds values that are not mask values (e.g. {value.item() if hasattr(value, 'item') else value}): "
        "expected booleans, "
        "integers 0/1, an 8-bit mask with 255 for lesion (foreground > 128), or probabilities in [0, 1] "
        "(foreground > 0.5)."
    )


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
    p, t = as_binary_mask(pred, name="pred"), as_binary_mask(target, name="target")
    if p.shape != t.shape:
        raise ConfigError(f"pred and target masks must have the same shape; got {p.shape} and {t.shape}.")
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


def thresholded_jaccard(pred: ArrayLike, target: ArrayLike, *, threshold: float = 0.65) -> np.ndarray | float:
    """Jaccard index where it is >= ``threshold``, else 0 (the ISIC 2018 ranking rule).

    Args:
        pred: Predicted mask ``(H, W)``, or a stack ``(N, H, W)`` for one score per image.
        target: Ground-truth mask(s) of the same shape.
        threshold: Smallest Jaccard index that is kept; in [0, 1].

    Example:
        >>> thresholded_jaccard([[1, 1, 1, 0]], [[1, 1, 1, 1]]), thresholded_jaccard([[1, 1, 0, 0]], [[1, 1, 1, 1]])
        (0.75, 0.0)
    """
    threshold = check_number(threshold, "threshold", low=0, high=1)
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
