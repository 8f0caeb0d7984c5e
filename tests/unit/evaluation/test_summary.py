"""The typed summary of an evaluation."""

from __future__ import annotations

import math

import pytest


def test_summarize_names_the_missing_columns():
    import pandas as pd

    from isicseg.evaluation import summarize
    from isicseg.exceptions import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"summarize needs the per-image columns evaluate\(\) writes; this table lacks jaccard, .* \(it has no columns\)",
    ):
        summarize(pd.DataFrame(), "three_class")
    from isicseg.metrics import SEGMENTATION_SCORES

    columns = [*SEGMENTATION_SCORES, *(f"{p}_{c}" for c in ("melanoma", "seborrheic_keratosis") for p in ("p", "is"))]
    empty = summarize(pd.DataFrame(columns=columns), "three_class")  # no image: nan and None, no error
    assert empty.n_images == 0 and math.isnan(empty.jaccard) and empty.categories["melanoma"] is None
