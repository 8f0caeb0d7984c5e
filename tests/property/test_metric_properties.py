from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from isicseg import metrics as M

from ..strategies import mask_pairs

labels_and_scores = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        # scores on a grid, so that the transforms below keep every tie and every order exactly
        st.lists(st.integers(0, 40).map(lambda k: k / 40), min_size=n, max_size=n),
    )
)


@given(mask_pairs())
def test_jaccard_bounds_symmetry_and_dice_relation(pair):
    a, b = pair
    j, d = M.jaccard_index(a, b), M.dice_coefficient(a, b)
    assert 0.0 <= j <= 1.0 and 0.0 <= d <= 1.0
    assert j == M.jaccard_index(b, a) and d == M.dice_coefficient(b, a)
    assert abs(j - d / (2 - d)) < 1e-9


@given(labels_and_scores)
def test_auc_unchanged_by_monotone_transform(data):
    y, s = data
    assume(0 < sum(y) < len(y))
    s = np.asarray(s, dtype=np.float64)
    transformed = np.exp(3 * s) + 7  # strictly increasing
    assert abs(M.roc_auc(y, s) - M.roc_auc(y, transformed)) < 1e-12


@given(labels_and_scores)
def test_auc_of_reversed_scores(data):
    y, s = data
    assume(0 < sum(y) < len(y))
    s = np.asarray(s, dtype=np.float64)
    assert abs(M.roc_auc(y, 1 - s) - (1 - M.roc_auc(y, s))) < 1e-12


@given(labels_and_scores)
def test_auc_matches_pairwise_definition(data):
    y, s = data
    assume(0 < sum(y) < len(y))
    pos = [v for v, t in zip(s, y) if t]
    neg = [v for v, t in zip(s, y) if not t]
    pairs = [1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg]
    assert abs(M.roc_auc(y, s) - sum(pairs) / len(pairs)) < 1e-12


@given(labels_and_scores)
def test_average_precision_bounds(data):
    y, s = data
    assume(sum(y) > 0)
    ap = M.average_precision(y, s)
    assert 0.0 < ap <= 1.0 + 1e-12
