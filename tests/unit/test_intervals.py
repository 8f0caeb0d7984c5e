"""Confidence intervals: coverage on simulated data, DeLong against the bootstrap, the paired comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from isicseg.exceptions import ConfigError
from isicseg.metrics import average_precision, roc_auc
from isicseg.metrics.intervals import bootstrap_interval, compare_auc, delong_auc_interval, mean_interval


def _sample(rng, n_pos=75, n_neg=325, shift=1.2):
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return y, rng.normal(size=n_pos + n_neg) + shift * y


def test_delong_and_the_bootstrap_agree_on_the_issue_s_sizes():
    y, s = _sample(np.random.default_rng(3))
    boot, closed = bootstrap_interval(roc_auc, y, s), delong_auc_interval(y, s)
    assert boot.estimate == closed.estimate == roc_auc(y, s)
    assert abs(boot.low - closed.low) < 0.01 and abs(boot.high - closed.high) < 0.01
    assert 0.08 < boot.high - boot.low < 0.13  # about +-0.05 on 400 images with 75 positives, as the issue says


def test_the_intervals_cover_the_true_auc_about_95_times_in_100():
    # the true AUC of N(1.2, 1) against N(0, 1) is Phi(1.2 / sqrt 2)
    from statistics import NormalDist

    truth = NormalDist().cdf(1.2 / math.sqrt(2))
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        interval = delong_auc_interval(*_sample(rng))
        hits += interval.low <= truth <= interval.high
    assert 0.90 <= hits / 200 <= 0.99
    boot_hits = sum(bootstrap_interval(roc_auc, *_sample(rng), n_resamples=400).low <= truth for _ in range(40))
    assert boot_hits >= 36  # the lower end stays below the truth about 97.5% of the time


def test_same_seed_same_interval_and_the_seed_matters():
    y, s = _sample(np.random.default_rng(0))
    assert bootstrap_interval(average_precision, y, s) == bootstrap_interval(average_precision, y, s)
    assert bootstrap_interval(average_precision, y, s, seed=1) != bootstrap_interval(average_precision, y, s)


def test_undefined_scores_give_nan_intervals():
    assert all(math.isnan(v) for v in bootstrap_interval(roc_auc, [1, 1, 1], [0.2, 0.5, 0.9]))
    assert all(math.isnan(v) for v in delong_auc_interval([0, 0], [0.2, 0.5]))
    assert all(math.isnan(v) for v in mean_interval([float("nan")]))
    assert mean_interval([0.5, float("nan"), 0.7]).estimate == pytest.approx(0.6)


def test_the_paired_comparison_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(5)
    y, strong = _sample(rng, shift=1.6)
    weak = strong + rng.normal(scale=1.5, size=len(y))  # the same information, blurred
    better = compare_auc(y, weak, strong)
    assert better.difference > 0 and better.low > 0 and better.p_value < 0.01
    same = compare_auc(y, strong, strong + rng.normal(scale=0.01, size=len(y)))
    assert same.low < 0 < same.high and same.p_value > 0.05
    # paired: the interval of the difference is narrower than either model's own interval
    own = bootstrap_interval(roc_auc, y, strong)
    assert same.high - same.low < (own.high - own.low) / 2


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match=r"n_resamples must be an int >= 100; got 10"):
        bootstrap_interval(roc_auc, [0, 1], [0.1, 0.9], n_resamples=10)
    with pytest.raises(ConfigError, match=r"confidence must be a number in \(0, 1\); got 95"):
        mean_interval([0.5], confidence=95)
