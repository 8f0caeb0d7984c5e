"""The real-data benchmark's smoke run: every method trains or runs, writes submission files, is scored."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ..helpers import import_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_real_quick(tmp_path, monkeypatch):
    bench_real = import_benchmark(
        "bench_real",
        "isic2017-train-256sq",
        "isic2017-train-384",
        "isic2017-sample",
        "ham10000-200",
        "weights/mobilenet_v2-b0353104.pth",
    )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # the benchmark points it at its own copy; restored after
    table = bench_real.main(["--quick", "--out", str(tmp_path)])
    assert list(table["method"]) == [
        "threshold (Otsu)",
        "linear probe (MobileNetV2)",
        "linear probe + HAM10000",
        "resnet18_fpn scratch",
        "recipe (isic2017_cpu.json)",
        "recipe (isic2017_ham10000_cpu.json)",
    ]
    held_out = pd.read_csv(tmp_path / "split" / "ISIC-2017_Validation_Part3_GroundTruth.csv", dtype={"image_id": str})
    kept = pd.read_csv(tmp_path / "split" / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    assert (len(kept), len(held_out)) == (48, 12) and not set(kept["image_id"]) & set(held_out["image_id"])
    assert held_out["melanoma"].sum() >= 2 and held_out["seborrheic_keratosis"].sum() >= 1  # stratified
    for method in ("threshold", "resnet18_scratch", "recipe", "recipe_ham"):
        assert len(list((tmp_path / method / "masks").glob("*_segmentation.png"))) == 12
    probe = pd.read_csv(tmp_path / "linear_probe" / "classification.csv")
    assert len(probe) == 12 and probe["melanoma"].between(0, 1).all()
    intervals = [c for c in table.columns if c.endswith("95% CI")]
    assert intervals == ["jaccard 95% CI", "mel AUC 95% CI", "sk AUC 95% CI"]
    for method, row in table.set_index("method").iterrows():  # every score lies inside its interval
        for column in intervals:
            if isinstance(row[column], str):
                low, high = map(float, row[column].split("-"))
                assert low <= round(row[column.replace(" 95% CI", "")], 3) <= high, (method, column)
    assert table.set_index("method").loc["recipe (isic2017_cpu.json)", intervals].notna().all()
    scores = table.drop(columns=["method", "train min", *intervals]).set_index(table["method"])
    segmentation, classification = (
        ["jaccard", "thresholded_jaccard", "dice", "box_iou"],
        ["mel AUC", "mel AP", "sk AUC", "sk AP"],
    )
    assert scores.loc["threshold (Otsu)", classification].isna().all()  # no melanoma score from a threshold
    assert (
        scores.loc[["linear probe (MobileNetV2)", "linear probe + HAM10000"], segmentation].isna().all().all()
    )  # no masks from a probe
    assert not scores.loc[["linear probe (MobileNetV2)", "linear probe + HAM10000"], "mel AUC"].isna().any()
    values = scores.to_numpy(float)
    assert ((values >= 0) & (values <= 1) | np.isnan(values)).all()
    trained = ["resnet18_fpn scratch", "recipe (isic2017_cpu.json)", "recipe (isic2017_ham10000_cpu.json)"]
    assert not scores.loc[trained].isna().any().any()
    threshold = table.set_index("method").loc["threshold (Otsu)"]
    assert threshold["jaccard"] > 0.3  # Otsu finds real lesions roughly: a check that the scoring reads the right masks
    assert pd.read_csv(tmp_path / "table.csv").shape == table.shape
    # the aspect-kept held-out images (the held-out ids that isic2017-train-384 holds) and the 3 full-resolution sample images
    aspect_ids = set(
        pd.read_csv(tmp_path / "aspect_split" / "ISIC-2017_Validation_Part3_GroundTruth.csv", dtype={"image_id": str})[
            "image_id"
        ]
    )
    assert aspect_ids <= set(held_out["image_id"])
    aspect = pd.read_csv(tmp_path / "aspect_table.csv")
    full = aspect[aspect["set"] == "full resolution (3 images)"]
    assert list(full["method"]) == trained
    assert full["jaccard"].between(0, 1).all() and full["under 0.5"].between(0, 3).all()
    assert len(aspect) == 3 * (2 if aspect_ids else 1)
    # the HAM10000 recipe against today's, paired on the same images
    comparison = pd.read_csv(tmp_path / "comparison.csv")
    assert list(comparison["set"]) == ["held-out", "aspect-kept 384"][: 2 if aspect_ids else 1]
    numeric = r"^[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\], p=\d\.\d\d$"
    for split_dir, (_, row) in zip(["split", "aspect_split"], comparison.iterrows()):
        truth = pd.read_csv(tmp_path / split_dir / "ISIC-2017_Validation_Part3_GroundTruth.csv")
        melanomas, n = int(truth["melanoma"].sum()), len(truth)
        if 0 < melanomas < n:  # an AUC difference with its interval and p-value
            assert re.match(numeric, row["mel AUC difference"]), row["mel AUC difference"]
        else:  # one class only: said in words, never a nan dressed as a number
            assert row["mel AUC difference"] == f"undefined ({melanomas} of {n} images are melanoma)"
    assert re.match(numeric, comparison["mel AUC difference"][0])  # the stratified held-out split has both classes
