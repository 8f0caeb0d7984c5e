"""Classification scores of one category (ISIC 2017 Part 3): ROC, AUC, AP, specificity at a sensitivity."""

from __future__ import annotations

import numpy as np

from .._numbers import check_number
from ..exceptions import ConfigError
from .segmentation import ArrayLike, _numpy

__all__ = ["roc_auc", "roc_curve", "average_precision", "specificity_at_sensitivity", "binary_classification_scores"]


def _binary_inputs(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _numpy(y_true, "y_true").astype(np.float64).ravel()
    s = _numpy(scores, "scores").astype(np.float64).ravel()
    if y.shape != s.shape:
        raise ConfigError(f"y_true and scores must have the same length; got {y.size} and {s.size}.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ConfigError(f"y_true must hold only 0 and 1; got values {sorted(set(y.tolist()))[:5]}.")
    if not np.isfinite(s).all():
        raise ConfigError(f"scores must be finite; got {int((~np.isfinite(s)).sum())} nan or infinite values.")
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


def specificity_at_sensitivity(y_true: ArrayLike, scores: ArrayLike, *, sensitivity: float) -> float:
    """Best specificity among the thresholds whose sensitivity is at least ``sensitivity``.

    ISIC 2017 reported it at sensitivities 0.82, 0.89 and 0.95. ``nan`` when
    ``y_true`` holds one class only.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: The category's probability (or any score) per image.
        sensitivity: The sensitivity to reach, e.g. 0.89.

    Example:
        >>> specificity_at_sensitivity([0, 0, 1, 1], [0.1, 0.5, 0.4, 0.9], sensitivity=0.95)
        0.5
    """
    sensitivity = check_number(sensitivity, "sensitivity", low=0, high=1)
    fpr, tpr, _ = roc_curve(y_true, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return float("nan")
    reach = tpr >= sensitivity - 1e-12
    return float(np.max(1 - fpr[reach]))


def binary_classification_scores(y_true: ArrayLike, scores: ArrayLike, *, threshold: float = 0.5) -> dict[str, float]:
    """ISIC 2017 Part 3 scores of one category.

    Args:
        y_true: 1 where the image belongs to the category, else 0.
        scores: Probability of the category per image.
        threshold: A case is called positive when its score is > ``threshold``; in [0, 1].

    Returns:
        ``auc``, ``average_precision``, ``accuracy``, ``sensitivity``, ``specificity``,
        ``precision`` (0 when nothing is called positive) and ``spec_at_sens_82``,
        ``spec_at_sens_89``, ``spec_at_sens_95``. Rates whose denominator is empty are ``nan``.

    Example:
        >>> s = binary_classification_scores([0, 0, 1, 1], [0.2, 0.7, 0.6, 0.9])
        >>> s["accuracy"], s["sensitivity"], s["specificity"], round(s["precision"], 3)
        (0.75, 1.0, 0.5, 0.667)
    """
    threshold = check_number(threshold, "threshold", low=0, high=1)
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
        "spec_at_sens_82": specificity_at_sensitivity(y, s, sensitivity=0.82),
        "spec_at_sens_89": specificity_at_sensitivity(y, s, sensitivity=0.89),
        "spec_at_sens_95": specificity_at_sensitivity(y, s, sensitivity=0.95),
    }
