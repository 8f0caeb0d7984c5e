"""Validation answers as the final evaluation does: best.pt is chosen by the answers that are reported."""

from __future__ import annotations

import json

import pytest

from isicseg import ISIC2017Dataset, load_model
from isicseg.config import RunConfig
from isicseg.evaluation import evaluate, flat_metrics
from isicseg.run import train_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_last_validation_equals_evaluate_with_the_runs_answer_rule(synthetic_root, tmp_path):
    config = RunConfig(name="v").replace(
        root=str(synthetic_root),
        backbone="resnet18_fpn",
        pretrained="none",
        classifier=None,
        proposals="few",
        image_size=64,
        epochs=1,
        batch_size=2,
        optimizer="adamw",
        lr=1e-3,
        warmup_steps=0,
        label_scheme="binary",
        val_split="validation",
        eval_split=None,
        tta=True,
        postprocess=True,
        answer_rule="central",
    )
    run_dir, _ = train_run(config, runs_dir=tmp_path, quiet=True)
    logged = json.loads((run_dir / "history.json").read_text())[-1]
    model = load_model(run_dir / "last.pt")
    val = ISIC2017Dataset(synthetic_root, "validation", label_scheme="binary", image_size=64)
    same = flat_metrics(evaluate(model, val, config=config.inference).summary, prefix="val_")
    shared = sorted(set(same) & set(logged))  # evaluate adds COCO mAP, which validation does not compute
    assert {"val_jaccard", "val_pixel_accuracy", "val_melanoma_auc", "val_mean_auc"} <= set(shared)
    logged = {k: float("nan") if v is None else v for k, v in logged.items()}  # history.json writes nan as null
    assert {k: logged[k] for k in shared} == pytest.approx({k: same[k] for k in shared}, abs=1e-9, nan_ok=True)
    plain = flat_metrics(
        evaluate(model, val).summary, prefix="val_"
    )  # the rule validation used before: no TTA, no clean-up, the top-scoring detection
    assert plain["val_pixel_accuracy"] != pytest.approx(same["val_pixel_accuracy"], abs=1e-9)
