from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from isicseg import InferenceConfig, ISIC2017Dataset, build_mask_rcnn
from isicseg.cli import main
from isicseg.evaluation import Summary, evaluate, score_submission
from isicseg.models import FEW_PROPOSALS

from ..conftest import MINI_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_mask_rcnn(4, backbone="resnet18_fpn", min_size=64, max_size=96, **FEW_PROPOSALS)


def assert_same(a, b):
    for key in a:
        if isinstance(a[key], dict):
            assert_same(a[key], b[key])
        elif a[key] is None or (isinstance(a[key], float) and np.isnan(a[key])):
            assert b[key] is None or np.isnan(b[key]), key
        else:
            assert a[key] == pytest.approx(b[key], abs=1e-12), key


def test_evaluate_writes_consistent_files(model, synthetic_root, tmp_path):
    dataset = ISIC2017Dataset(synthetic_root, "test", label_scheme="three_class", image_size=64)
    result = evaluate(model, dataset, out_dir=tmp_path)
    per_image = pd.read_csv(tmp_path / "per_image.csv", dtype={"image_id": str})
    assert list(per_image["image_id"]) == dataset.image_ids
    for column in (
        "jaccard",
        "dice",
        "thresholded_jaccard",
        "pixel_accuracy",
        "pixel_sensitivity",
        "pixel_specificity",
        "box_iou",
    ):
        assert per_image[column].between(0, 1).all(), column
    submission = pd.read_csv(tmp_path / "classification.csv", dtype={"image_id": str})
    assert list(submission.columns) == ["image_id", "melanoma", "seborrheic_keratosis"]
    assert submission[["melanoma", "seborrheic_keratosis"]].stack().between(0, 1).all()
    for record in dataset.records:
        written = Image.open(tmp_path / "masks" / f"{record.image_id}_segmentation.png")
        assert written.mode == "L" and written.size == Image.open(record.image_path).size  # original size
        assert set(np.unique(np.asarray(written))) <= {0, 255}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_images"] == 4 and set(summary) >= {"part1", "part3", "reference_report", "coco", "intervals"}
    low, high = summary["intervals"]["jaccard"]
    assert low <= summary["part1"]["jaccard"] <= high and summary["intervals"]["method"].startswith(
        "stratified percentile bootstrap"
    )
    assert summary == result.summary.to_dict() and Summary.from_dict(summary).to_dict() == summary
    rescored = score_submission(
        tmp_path / "masks", tmp_path / "classification.csv", data_root=synthetic_root, split="test"
    ).to_dict()
    expected = result.summary.to_dict()
    assert_same(rescored["part1"], expected["part1"])
    assert_same(rescored["part3"], expected["part3"])
    assert per_image["jaccard"].mean() == pytest.approx(summary["part1"]["jaccard"])
    for name in ("jaccard_boxplot", "roc_curves", "confusion_matrix", "overlays"):
        figure = np.asarray(Image.open(tmp_path / "figures" / f"{name}.png").convert("RGB")).astype(float)
        assert min(figure.shape[:2]) >= 200 and figure.std() > 10, name  # drawn, not blank


def test_perfect_submission_scores_one(synthetic_root, tmp_path):
    """The scorer gives perfect scores to the ground truth itself."""
    dataset = ISIC2017Dataset(synthetic_root, "test", label_scheme="three_class")
    masks = tmp_path / "masks"
    masks.mkdir()
    rows = []
    for record in dataset.records:
        Image.open(record.mask_path).save(masks / record.mask_path.name)
        rows.append(
            {
                "image_id": record.image_id,
                "melanoma": float(record.diagnosis == "melanoma"),
                "seborrheic_keratosis": float(record.diagnosis == "seborrheic_keratosis"),
            }
        )
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    summary = score_submission(masks, tmp_path / "c.csv", data_root=synthetic_root, split="test")
    assert summary.jaccard == 1.0 and summary.segmentation["thresholded_jaccard"] == 1.0
    assert summary.label_scheme is None and summary.reference_report is None  # files carry no labels or boxes
    for category in ("melanoma", "seborrheic_keratosis"):
        both = {record.diagnosis == category for record in dataset.records} == {True, False}
        assert summary.categories[category].auc == (
            1.0 if both else pytest.approx(float("nan"), nan_ok=True)
        )  # AUC needs both classes
    assert summary.intervals is None  # intervals cost 2000 resamples each: asked for, not by default
    bounded = score_submission(masks, tmp_path / "c.csv", data_root=synthetic_root, split="test", intervals=True)
    assert bounded.intervals["jaccard"] == (1.0, 1.0) and bounded.interval_method.startswith("stratified")
    if {record.diagnosis == "melanoma" for record in dataset.records} == {True, False}:
        assert bounded.intervals["melanoma_auc"] == (1.0, 1.0)
    only = score_submission(masks, tmp_path / "c.csv", data_root=synthetic_root, split="test", categories=["melanoma"])
    assert list(only.categories) == ["melanoma"] and only.mean_auc == only.auc("melanoma")
    pd.DataFrame(rows).drop(columns="seborrheic_keratosis").to_csv(tmp_path / "mel.csv", index=False)
    assert score_submission(
        masks, tmp_path / "mel.csv", data_root=synthetic_root, split="test", categories=["melanoma"]
    ).auc("melanoma") == only.auc("melanoma")


def test_score_submission_errors(synthetic_root, tmp_path):
    from isicseg.exceptions import ConfigError, DatasetError

    with pytest.raises(
        DatasetError,
        match=r"The submission lacks 4 of 4 masks, e.g. .*_segmentation.png; expected one ISIC_nnnnnnn_segmentation.png per image of .*Test.*Part3_GroundTruth.csv",
    ):
        score_submission(tmp_path, None, data_root=synthetic_root, split="test")
    with pytest.raises(DatasetError, match=r"mask folder .*nowhere does not exist or is not a folder"):
        score_submission(tmp_path / "nowhere", None, data_root=synthetic_root, split="test")
    dataset = ISIC2017Dataset(synthetic_root, "test")
    masks = tmp_path / "masks"
    masks.mkdir()
    for record in dataset.records:
        Image.open(record.mask_path).save(masks / record.mask_path.name)
    pd.DataFrame({"image_id": dataset.image_ids, "melanoma": 0.5}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DatasetError, match=r"c.csv has no column seborrheic_keratosis; it has melanoma"):
        score_submission(masks, tmp_path / "c.csv", data_root=synthetic_root, split="test")
    with pytest.raises(
        ConfigError, match=r"categories must be some of melanoma, seborrheic_keratosis .*got \['nevus'\]"
    ):
        score_submission(masks, tmp_path / "c.csv", data_root=synthetic_root, split="test", categories=["nevus"])


def test_binary_scheme_reports_sk_as_missing(model, synthetic_root, tmp_path):
    model3 = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=96, **FEW_PROPOSALS)
    result = evaluate(model3, ISIC2017Dataset(synthetic_root, "test", image_size=64), out_dir=tmp_path, figures=False)
    assert result.summary.categories["seborrheic_keratosis"] is None
    assert np.isnan(result.summary.mean_auc) and np.isnan(result.summary.auc("seborrheic_keratosis"))
    assert json.loads((tmp_path / "summary.json").read_text())["part3"]["mean_auc"] is None
    assert (pd.read_csv(tmp_path / "classification.csv")["seborrheic_keratosis"] == 0).all()


def test_cli_evaluate_and_predict_on_real_files(model, tmp_path, capsys):
    weights = tmp_path / "model.pt"
    config = model.identity.replace(label_scheme="three_class").to_dict()
    torch.save({"model": model.state_dict(), "identity": config}, weights)
    assert (
        main(
            ["evaluate", str(weights), "--data", str(MINI_ROOT), "--split", "validation", "--out", str(tmp_path / "ev")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "ISIC Part 1" in out and "seborrheic_keratosis" in out and "COCO" in out
    rescored = score_submission(
        tmp_path / "ev" / "masks", tmp_path / "ev" / "classification.csv", data_root=MINI_ROOT, split="validation"
    )
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert rescored.jaccard == pytest.approx(summary["part1"]["jaccard"])

    images = MINI_ROOT / "ISIC-2017_Training_Data"
    assert main(["predict", str(weights), str(images), "--out", str(tmp_path / "pr")]) == 0
    predictions = pd.read_csv(tmp_path / "pr" / "predictions.csv", dtype={"image_id": str})
    assert list(predictions["image_id"]) == ["ISIC_0000062", "ISIC_0000094", "ISIC_0000148", "ISIC_0000283"]
    for image_id in predictions["image_id"]:
        mask = Image.open(tmp_path / "pr" / "masks" / f"{image_id}_segmentation.png")
        assert mask.size == Image.open(images / f"{image_id}.jpg").size
        assert (tmp_path / "pr" / "overlays" / f"{image_id}.png").is_file()
    assert (
        main(
            [
                "predict",
                str(weights),
                str(images),
                "--out",
                str(tmp_path / "fast"),
                "--precision",
                "bf16",
                "--channels-last",
            ]
        )
        == 0
    )
    fast = pd.read_csv(tmp_path / "fast" / "predictions.csv", dtype={"image_id": str})
    assert (
        list(fast["image_id"]) == list(predictions["image_id"])
        and len(list((tmp_path / "fast" / "masks").iterdir())) == 4
    )


def test_cli_errors(tmp_path, capsys, model):
    weights = tmp_path / "plain.pt"
    torch.save(model.state_dict(), weights)
    assert main(["predict", str(weights), str(tmp_path / "nothing.jpg")]) == 2
    assert "nothing.jpg does not exist; expected an image file or a folder of images" in capsys.readouterr().err
    assert main(["predict", str(weights), str(MINI_ROOT / "ISIC-2017_Training_Data")]) == 2
    assert "is a plain state dict; pass num_classes=" in capsys.readouterr().err
    args = [
        "predict",
        str(weights),
        str(MINI_ROOT / "ISIC-2017_Training_Data"),
        "--num-classes",
        "4",
        "--backbone",
        "resnet18_fpn",
        "--label-scheme",
        "binary",
        "--out",
        str(tmp_path / "p"),
    ]
    assert main(args) == 2
    assert (
        "Label scheme 'binary' has 3 classes (background included); num_classes=4 was asked for"
        in capsys.readouterr().err
    )


def test_overlays_show_the_worst_then_the_best_by_jaccard(model, synthetic_root, tmp_path, monkeypatch):
    from isicseg.evaluation import predict_rows
    from isicseg.evaluation.report import OverlayPicker

    dataset = ISIC2017Dataset(synthetic_root, "test", label_scheme="three_class", image_size=64)
    dataset.transforms = augment = object()  # predict_rows reads without it and leaves the caller's dataset alone
    picker, seen = OverlayPicker(3), []

    def on_answer(index, answer, truth, row):
        seen.append((index, answer.image_id, truth.shape, row["image_id"]))
        picker.add(dataset.records[index], answer, truth, row["jaccard"])

    monkeypatch.chdir(tmp_path)
    predictions = predict_rows(model, dataset, on_answer=on_answer)
    assert dataset.transforms is augment and list(tmp_path.iterdir()) == []  # answering writes no file
    assert [(i, a) for i, a, _, _ in seen] == [(i, r.image_id) for i, r in enumerate(dataset.records)]
    assert all(shape == dataset.original_height_and_width(i) and a == b for i, a, shape, b in seen)
    rows, overlays = predictions.rows, picker.overlays(dataset.label_scheme)
    ranked = sorted(rows, key=lambda r: r["jaccard"])
    expected = [ranked[0], ranked[1], ranked[-1]]  # two worst (the odd one goes to the worst), one best
    assert [o.title.split(" ")[0] for o in overlays] == [r["image_id"] for r in expected]
    assert [float(o.title.rsplit("J=", 1)[1]) for o in overlays] == [
        pytest.approx(r["jaccard"], abs=0.005) for r in expected
    ]


@pytest.mark.slow
def test_evaluate_with_tta_and_postprocess(model, synthetic_root):
    dataset = ISIC2017Dataset(synthetic_root, "test", label_scheme="three_class", image_size=64)
    plain = evaluate(model, dataset).per_image
    refined = evaluate(model, dataset, config=InferenceConfig(tta=True, postprocess=True)).per_image
    assert list(refined["image_id"]) == list(plain["image_id"])
    assert refined["jaccard"].between(0, 1).all()
    assert not np.allclose(refined["score"], plain["score"])  # two views averaged: other scores
