"""Confidence intervals for the ISIC scores, and a paired comparison of two models.

A melanoma AUC of 0.79 on 400 images (75 melanomas) is 0.79 +- about 0.05; on the
official 150-image validation split (30 melanomas) the interval is wider still. Scores
without intervals invite reading noise as progress, so :func:`~isicseg.evaluate` reports
one for every AUC, average precision and the mean Jaccard.

Method: the **stratified percentile bootstrap** with :data:`N_RESAMPLES` resamples and a
fixed :data:`SEED`. For a classification score the positives and the negatives are
resampled separately (each resample keeps the class counts, so every AUC is defined);
for a mean of per-image scores the images are resampled. The interval holds the central
:data:`CONFIDENCE` share of the resampled scores. :func:`delong_auc_interval` is the
closed form for the AUC (DeLong, DeLong and Clarke-Pearson, Biometrics 1988), which the
tests check against the bootstrap. :func:`compare_auc` answers "is B better than A on
these images?" with a paired bootstrap of the AUC difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from .._numbers import check_number
from ..exceptions import ConfigError
from .classification import _binary_inputs, roc_auc
from .segmentation import ArrayLike, _numpy

__all__ = [
    "CONFIDENCE",
    "INTERVAL_METHOD",
    "N_RESAMPLES",
    "SEED",
    "AucComparison",
    "Interval",
    "bootstrap_interval",
    "compare_auc",
    "delong_auc_interval",
    "mean_interval",
    "roc_band",
]

N_RESAMPLES = 2000
"""Bootstrap resamples of every interval isicseg reports."""
CONFIDENCE = 0.95
"""Coverage of every interval isicseg reports."""
SEED = 0
"""Seed of the resampling, so that the same scores always give the same interval."""
INTERVAL_METHOD = f"stratified percentile bootstrap, {N_RESAMPLES} resamples, seed {SEED}"
"""How the intervals in a :class:`~isicseg.evaluation.Summary` were computed (stored with them)."""


class Interval(NamedTuple):
    """A score and its confidence interval (``nan`` where the score is undefined)."""

    estimate: float
    low: float
    high: float


class AucComparison(NamedTuple):
    """What :func:`compare_auc` returns: the AUCs of models A and B, ``difference = auc_b - auc_a``,
    the interval ``(low, high)`` of the difference, and ``p_value``, the two-sided bootstrap
    p-value of "no difference" (twice the smaller share of resampled differences on either
    side of 0, at most 1)."""

    auc_a: float
    auc_b: float
    difference: float
    low: float
    high: float
    p_value: float


def _check(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 100:
        raise ConfigError(f"n_resamples must be an int >= 100; got {n_resamples!r}.")
    check_number(confidence, "confidence", low=0, high=1, low_open=True, high_open=True)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _stratified_indices(y: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """``(n_resamples, n)`` indices: positives drawn from positives, negatives from negatives."""
    positives, negatives = np.flatnonzero(y), np.flatnonzero(~y)
    parts = [
        group[rng.integers(0, len(group), size=(n_resamples, len(group)))]
        for group in (positives, negatives)
        if len(group)
    ]
    return np.concatenate(parts, axis=1) if parts else np.zeros((n_resamples, 0), dtype=int)


def bootstrap_interval(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """A classification score ``metric(y_true, scores)`` with its stratified bootstrap interval.

    Example:
        >>> from isicseg.metrics import roc_auc
        >>> y, s = [0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.3, 0.9]
        >>> interval = bootstrap_interval(roc_auc, y, s)
        >>> round(interval.estimate, 3), interval.low <= interval.estimate <= interval.high <= 1.0
        (0.778, True)
    """
    _check(n_resamples, confidence)
    y, s = _binary_inputs(y_true, scores)
    estimate = float(metric(y, s))
    if math.isnan(estimate):
        return Interval(estimate, math.nan, math.nan)
    draws = _stratified_indices(y, np.random.default_rng(seed), n_resamples)
    values = np.array([metric(y[row], s[row]) for row in draws], dtype=float)
    return Interval(estimate, *_percentiles(values, confidence))


def mean_interval(
    values: ArrayLike, *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED
) -> Interval:
    """The mean of per-image scores (``nan`` ignored) with its bootstrap interval.

    Example:
        >>> interval = mean_interval([0.9, 0.8, 0.85, 0.1, 0.95])
        >>> round(interval.estimate, 2), interval.low < interval.estimate < interval.high
        (0.72, True)
    """
    _check(n_resamples, confidence)
    x = _numpy(values, "values").astype(float).ravel()
    x = x[~np.isnan(x)]
    if not len(x):
        return Interval(math.nan, math.nan, math.nan)
    draws = np.random.default_rng(seed).integers(0, len(x), size=(n_resamples, len(x)))
    return Interval(float(x.mean()), *_percentiles(x[draws].mean(axis=1), confidence))


def delong_auc_interval(y_true: ArrayLike, scores: ArrayLike, *, confidence: float = CONFIDENCE) -> Interval:
    """The AUC with DeLong's closed-form normal interval (clipped to [0, 1]).

    Example:
        >>> interval = delong_auc_interval([0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
        >>> round(interval.estimate, 3), round(interval.low, 3), round(interval.high, 3)
        (0.778, 0.291, 1.0)
    """
    _check(N_RESAMPLES, confidence)
    y, s = _binary_inputs(y_true, scores)
    positives, negatives = s[y], s[~y]
    if not len(positives) or not len(negatives):
        return Interval(math.nan, math.nan, math.nan)
    # structural components: each case's share of the pairs it wins (ties count one half)
    wins = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    auc = float(wins.mean())
    v10, v01 = wins.mean(axis=1), wins.mean(axis=0)
    variance = (v10.var(ddof=1) / len(positives) if len(positives) > 1 else 0.0) + (
        v01.var(ddof=1) / len(negatives) if len(negatives) > 1 else 0.0
    )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(variance)
    return Interval(auc, max(0.0, auc - half), min(1.0, auc + half))


def compare_auc(
    y_true: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> AucComparison:
    """Is model B's AUC higher than model A's on the same images? A paired stratified bootstrap.

    Both models' scores are resampled together (the same images in each resample), so the
    interval of the difference is much narrower than the two separate intervals suggest.

    Example:
        >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
        >>> a = [0.5, 0.6, 0.4, 0.7, 0.55, 0.45, 0.65, 0.5]   # close to chance
        >>> b = [0.1, 0.2, 0.3, 0.2, 0.9, 0.8, 0.7, 0.95]     # separates the classes
        >>> result = compare_auc(y, a, b)
        >>> round(result.difference, 3), result.low > 0, result.p_value < 0.05
        (0.531, True, True)
    """
    _check(n_resamples, confidence)
    y, a = _binary_inputs(y_true, scores_a)
    _, b = _binary_inputs(y_true, scores_b)
    auc_a, auc_b = roc_auc(y, a), roc_auc(y, b)
    if math.isnan(auc_a) or math.isnan(auc_b):
        return AucComparison(auc_a, auc_b, math.nan, math.nan, math.nan, math.nan)
    draws = _stratified_indices(y, np.random.default_rng(seed), n_resamples)
    differences = np.array([roc_auc(y[row], b[row]) - roc_auc(y[row], a[row]) for row in draws])
    low, high = _percentiles(differences, confidence)
    p_value = min(1.0, 2 * min(float(np.mean(differences <= 0)), float(np.mean(differences >= 0))))
    return AucComparison(auc_a, auc_b, auc_b - auc_a, low, high, p_value)


def roc_band(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    points: int = 101,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pointwise bootstrap band of the ROC curve: ``(fpr, tpr_low, tpr_high)`` at ``points`` false-positive rates.

    Each stratified resample's ROC curve is read (as a step function) at the grid of
    false-positive rates; the band holds the central ``confidence`` share at each rate.
    ``nan`` throughout when ``y_true`` holds one class only.
    """
    from .classification import roc_curve

    _check(n_resamples, confidence)
    y, s = _binary_inputs(y_true, scores)
    grid = np.linspace(0.0, 1.0, points)
    if y.all() or not y.any():
        return grid, np.full(points, np.nan), np.full(points, np.nan)
    curves = []
    for row in _stratified_indices(y, np.random.default_rng(seed), n_resamples):
        fpr, tpr, _ = roc_curve(y[row], s[row])
        curves.append(tpr[np.searchsorted(fpr, grid, side="right") - 1])  # the step function at each grid rate
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.array(curves), [tail, 100 - tail], axis=0)
    return grid, low, high
