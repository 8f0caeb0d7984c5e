"""Every AUC, AP and the mean Jaccard come with a 95% interval: in the Summary, summary.json, the printed table and the ROC figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from isicseg.evaluation import Summary, format_summary, summarize
from isicseg.metrics import average_precision, roc_auc
from isicseg.metrics.intervals import INTERVAL_METHOD, bootstrap_interval, mean_interval
from isicseg.viz import plot_roc_curves


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    is_mel = (rng.random(n) < 0.25).astype(int)
    is_sk = ((rng.random(n) < 0.2) & (is_mel == 0)).astype(int)
    columns = {
        name: rng.random(n)
        for name in (
            "jaccard",
            "dice",
            "thresholded_jaccard",
            "pixel_accuracy",
            "pixel_sensitivity",
            "pixel_specificity",
        )
    }
    return pd.DataFrame(
        {
            **columns,
            "p_melanoma": np.clip(0.3 * is_mel + rng.random(n) * 0.7, 0, 1),
            "is_melanoma": is_mel,
            "p_seborrheic_keratosis": np.clip(0.4 * is_sk + rng.random(n) * 0.6, 0, 1),
            "is_seborrheic_keratosis": is_sk,
        }
    )


def test_summarize_with_intervals_gives_the_bootstrap_of_each_score():
    table = _table()
    summary = summarize(table, intervals=True)
    assert summary.interval_method == INTERVAL_METHOD
    assert set(summary.intervals) == {
        "jaccard",
        "melanoma_auc",
        "melanoma_average_precision",
        "seborrheic_keratosis_auc",
        "seborrheic_keratosis_average_precision",
    }
    assert summary.intervals["jaccard"] == tuple(mean_interval(table["jaccard"])[1:])
    assert summary.intervals["melanoma_auc"] == tuple(
        bootstrap_interval(roc_auc, table["is_melanoma"], table["p_melanoma"])[1:]
    )
    assert summary.intervals["seborrheic_keratosis_average_precision"] == tuple(
        bootstrap_interval(average_precision, table["is_seborrheic_keratosis"], table["p_seborrheic_keratosis"])[1:]
    )
    points = {"jaccard": summary.jaccard}
    for category, scores in summary.categories.items():
        points[f"{category}_auc"], points[f"{category}_average_precision"] = scores.auc, scores.average_precision
    for name, (low, high) in summary.intervals.items():
        assert low <= points[name] <= high and high - low > 0.01, name
    assert summarize(table).intervals is None  # off by default (validation logs every epoch)


def test_intervals_survive_summary_json_and_are_printed():
    summary = summarize(_table(), intervals=True)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["intervals"]["method"] == INTERVAL_METHOD and len(data["intervals"]["melanoma_auc"]) == 2
    assert Summary.from_dict(data) == summary
    text = format_summary(summary)
    low, high = summary.intervals["melanoma_auc"]
    assert f"melanoma auc {low:.3f}-{high:.3f}" in text and "95% intervals" in text


def test_the_roc_figure_draws_a_band(tmp_path):
    table = _table(200, seed=1)
    curves = {"melanoma": (table["is_melanoma"].tolist(), table["p_melanoma"].tolist())}
    plain = np.asarray(Image.open(plot_roc_curves(curves, tmp_path / "plain.png")).convert("RGB")).astype(int)
    banded = np.asarray(Image.open(plot_roc_curves(curves, tmp_path / "band.png", band=True)).convert("RGB")).astype(
        int
    )
    # the band is a translucent fill: many pixels that are white in the plain figure are tinted in the banded one
    white = (plain == 255).all(axis=2)
    tinted = white & ~(banded == 255).all(axis=2)
    assert tinted.sum() > 0.02 * white.sum()
