"""The failure analysis script: every detection of a model is scored, and each failure falls in exactly one kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from isicseg import build_mask_rcnn
from isicseg.models import FEW_PROPOSALS
from isicseg.ops import masks_to_boxes

from ..conftest import MINI_ROOT
from ..helpers import import_benchmark

pytestmark = [pytest.mark.integration]


@pytest.fixture
def path(tmp_path):
    """An untrained binary-scheme model saved as a checkpoint with its identity."""
    torch.manual_seed(0)
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=96, label_scheme="binary", **FEW_PROPOSALS
    )
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
    return path


def test_wrong_object_scores_every_detection_and_sorts_failures(path, tmp_path, capsys):
    script = import_benchmark("wrong_object")
    table = script.main(
        [str(path), "--data", str(MINI_ROOT), "--split", "train", "--sizes", "96", "--out", str(tmp_path / "t.csv")]
    )
    assert (
        sorted(set(table["size"])) == [64, 96] and (table.groupby("size").size() == 4).all()
    )  # 4 training images, two sizes
    assert (table["best jaccard"] >= table["answer jaccard"]).all() and table["lesion share"].between(0, 1).all()
    assert ((table["best rank"] >= 1) | (table["detections"] == 0)).all() and (
        table["best rank"] <= table["detections"]
    ).all()
    kinds = script.kinds(table[table["size"] == 64])
    assert kinds["under 0.5"] == kinds["wrong pick"] + kinds["found, poorly outlined"] + kinds["missed"]
    assert kinds["images"] == 4 and np.isclose(
        kinds["mean answer jaccard"], table[table["size"] == 64]["answer jaccard"].mean()
    )
    assert "input 64 px (shorter side) (as trained)" in capsys.readouterr().out
    assert (tmp_path / "t.csv").is_file()


def test_answer_rules_scores_each_rule_on_the_same_detections(path, tmp_path, capsys):
    script = import_benchmark("answer_rules")
    out = tmp_path / "rules.csv"
    summary = script.main([str(path), "--isic", str(MINI_ROOT), "--split", "train", "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == 4 and list(summary["rule"]) == ["top", "central", "oracle", "central - top"]
    for rule in ("top", "central"):  # no rule beats the best detection the model had
        assert (table[rule] <= table["oracle"] + 1e-12).all() and table[rule].between(0, 1).all()
    means = summary.set_index("rule")["mean jaccard"]
    assert np.isclose(means["top"], table["top"].mean()) and np.isclose(
        means["central - top"], (table["central"] - table["top"]).mean()
    )
    assert "no TTA" in capsys.readouterr().out


def test_mask_threshold_scores_each_threshold_on_the_same_probabilities(path, tmp_path, capsys):
    script = import_benchmark("mask_threshold")
    out = tmp_path / "thresholds.csv"
    summary = script.main(
        [str(path), "--isic", str(MINI_ROOT), "--split", "train", "--thresholds", "0.3", "0.7", "--out", str(out)]
    )
    table = pd.read_csv(out)
    assert len(table) == 4 and list(summary["threshold"]) == [0.3, 0.5, 0.7]  # 0.5, the reference, always in
    for threshold in ("0.3", "0.5", "0.7"):
        assert table[threshold].between(0, 1).all()
    means = summary.set_index("threshold")["mean jaccard"]
    assert np.isclose(means[0.3], table["0.3"].mean()) and np.isclose(means[0.7], table["0.7"].mean())
    assert summary.set_index("threshold").loc[0.5, "minus 0.5"].startswith("+0.000")
    assert "tta=True, postprocess=True, answer rule central" in capsys.readouterr().out


def test_mask_threshold_compares_two_models_paired_on_the_same_images(path, tmp_path, capsys):
    script = import_benchmark("mask_threshold")
    common = [str(path), "--isic", str(MINI_ROOT), "--split", "train", "--thresholds", "0.5"]
    first, other = tmp_path / "first.csv", tmp_path / "other.csv"
    script.main([*common, "--no-tta", "--out", str(first)])  # a model that answers otherwise: no TTA
    summary = script.main([*common, "--against", str(first), "--out", str(other)]).set_index("threshold")
    a, b = pd.read_csv(first)["0.5"], pd.read_csv(other)["0.5"]
    assert (a - b).abs().max() > 0  # the two answer differently, so the difference is not trivially 0
    assert summary.loc[0.5, "minus against"].startswith(f"{(b - a).mean():+.3f}")
    assert summary.loc["against", "mean jaccard"] == pytest.approx(a.mean())
    assert "Paired against" in capsys.readouterr().out
    with pytest.raises(
        SystemExit,
        match=r"--against .*first.csv: expected a per-image table of the same 2 images with a 0.5 column .*; got 4 rows",
    ):
        script.main([*common[:5], "--limit", "2", "--against", str(first)])


@pytest.mark.parametrize("flips", ["h", "v", "hv"])
def test_tta_views_maps_a_flipped_views_detection_back_onto_the_image(flips):
    script = import_benchmark("tta_views")
    mask = torch.zeros(1, 1, 12, 20)
    mask[0, 0, 1:5, 2:9] = 0.9  # an off-centre blob in a wide frame: every flip moves it
    mask[0, 0, 4:7, 3:4] = 0.7
    seen = script.flip(mask, flips)
    assert not torch.equal(seen, mask)
    detection = {"boxes": masks_to_boxes(seen[:, 0] > 0), "masks": seen, "scores": torch.tensor([0.9])}
    back = script.flip_back(detection, flips)
    assert torch.equal(back["masks"], mask)
    assert back["boxes"].tolist() == masks_to_boxes(mask[:, 0] > 0).tolist() == [[2.0, 1.0, 9.0, 7.0]]


def test_tta_views_scores_every_combination_on_the_same_images(path, tmp_path, capsys):
    script = import_benchmark("tta_views")
    out = tmp_path / "views.csv"
    summary = script.main([str(path), "--isic", str(MINI_ROOT), "--split", "train", "--sizes", "48", "--out", str(out)])
    table = pd.read_csv(out)
    names = ["mirror", "flips", "mirror 48 px", "mirror, all sizes"]
    columns = [f"{name}@{threshold}" for name in names for threshold in (0.4, 0.5)]
    assert list(table.columns) == ["index", *columns] and len(table) == 4
    assert table[columns].apply(lambda c: c.between(0, 1).all()).all()
    means = summary.set_index("views@threshold")
    assert np.isclose(means.loc["flips@0.5", "mean jaccard"], table["flips@0.5"].mean())
    assert means.loc["mirror@0.5", "minus mirror@0.5"].startswith("+0.000")
    assert "input 64 px (shorter side), clean-up on, answer rule central" in capsys.readouterr().out
