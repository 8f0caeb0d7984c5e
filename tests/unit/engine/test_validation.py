"""The Trainer with datasets that are not ISIC2017Dataset: a plain class and a Subset; the engine imports no ISIC code."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from isicseg import InferenceConfig, ISIC2017Dataset
from isicseg.callbacks import EarlyStopping
from isicseg.engine import DetectionEvaluator, Trainer, TrainerConfig
from isicseg.exceptions import ConfigError

from ...helpers import tiny_model

ENGINE = Path(__file__).parents[3] / "src" / "isicseg" / "engine"
FAST = {"batch_size": 2, "warmup_steps": 0, "optimizer": "adamw", "lr": 1e-4, "eval_batch_size": 2}


class Squares(torch.utils.data.Dataset):
    """A user's own dataset: one bright square per image, in torchvision's detection contract."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed(index)
        image = torch.rand(3, 64, 64, generator=g) * 0.2
        x, y = (int(v) for v in torch.randint(4, 30, (2,), generator=g))
        image[:, y : y + 24, x : x + 24] += 0.7
        mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
        mask[0, y : y + 24, x : x + 24] = 1
        box = torch.tensor([[x, y, x + 24, y + 24]], dtype=torch.float32)
        return image, {"boxes": box, "labels": torch.tensor([1]), "masks": mask}


@pytest.mark.slow
def test_plain_dataset_and_subset_train_and_validate_with_detection_metrics():
    stopper = EarlyStopping(monitor="val_mask_iou", mode="max", patience=5)
    trainer = Trainer(TrainerConfig(epochs=1, **FAST), callbacks=[stopper])
    history = trainer.fit(tiny_model(), Squares(4), torch.utils.data.Subset(Squares(8), [5, 6, 7]))
    row = history[-1]
    assert trainer.global_step == 2
    assert {"val_loss", "val_mask_iou", "val_box_iou"} <= set(row)
    assert math.isfinite(row["val_loss"]) and 0 <= row["val_mask_iou"] <= 1 and 0 <= row["val_box_iou"] <= 1
    assert stopper.best == pytest.approx(row["val_mask_iou"])  # early stopping works on them


@pytest.mark.slow
def test_validation_reads_each_item_once_for_its_loss_and_its_answer():
    reads = []

    class Counted(Squares):
        def __getitem__(self, index):
            reads.append(index)
            return super().__getitem__(index)

    model = tiny_model()
    history = Trainer(TrainerConfig(epochs=1, **FAST)).fit(model, Squares(2), Counted(3))
    assert sorted(reads) == [0, 1, 2]  # one decode per validation image and epoch (loss pass and answer pass share it)
    assert math.isfinite(history[-1]["val_loss"]) and 0 <= history[-1]["val_mask_iou"] <= 1
    assert model.training  # left as found
    reads.clear()
    again = Trainer(TrainerConfig(epochs=1, **{**FAST, "eval_batch_size": 3})).validate(model, Counted(3))
    assert sorted(reads) == [0, 1, 2] and again["val_loss"] == pytest.approx(
        history[-1]["val_loss"], rel=1e-5
    )  # batching does not change it


class MixedSquares(Squares):
    """Every other image is 64 x 86 (a wider frame around the same square): the batches mix sizes."""

    def __getitem__(self, index: int):
        image, target = super().__getitem__(index)
        if index % 2:
            image = torch.cat([image, torch.rand(3, 64, 22, generator=torch.Generator().manual_seed(index)) * 0.2], -1)
            target["masks"] = torch.cat([target["masks"], torch.zeros(1, 64, 22, dtype=torch.uint8)], -1)
        return image, target


def test_validation_scores_do_not_depend_on_how_mixed_sizes_are_batched():
    # torchvision pads a batch to its largest image, which changed the smaller images' answers
    model = tiny_model()
    scores = [
        Trainer(TrainerConfig(epochs=1, **{**FAST, "eval_batch_size": size})).validate(model, MixedSquares(4))
        for size in (1, 4)
    ]
    assert scores[0]["val_mask_iou"] > 0
    for key in ("val_loss", "val_mask_iou", "val_box_iou"):
        assert scores[1][key] == pytest.approx(scores[0][key], rel=1e-4, abs=1e-5), key


def test_detection_evaluator_by_hand():
    square = torch.zeros(1, 1, 4, 4)
    square[0, 0, :2, :2] = 0.9
    truth = torch.zeros(1, 4, 4, dtype=torch.uint8)
    truth[0, :2, :4] = 1
    outputs = [
        {
            "scores": torch.tensor([0.2, 0.8]),
            "boxes": torch.tensor([[0.0, 0, 4, 4], [0, 0, 2, 2]]),
            "masks": torch.cat([torch.ones(1, 1, 4, 4), square]),
        },
        {"scores": torch.zeros(0), "boxes": torch.zeros(0, 4), "masks": torch.zeros(0, 1, 4, 4)},
        {"scores": torch.zeros(0), "boxes": torch.zeros(0, 4), "masks": torch.zeros(0, 1, 4, 4)},
    ]
    targets = [
        {"boxes": torch.tensor([[0.0, 0, 4, 2]]), "masks": truth},
        {"boxes": torch.tensor([[0.0, 0, 4, 2]]), "masks": truth},
        {"boxes": torch.zeros(0, 4), "masks": torch.zeros(0, 4, 4)},
    ]
    evaluator = DetectionEvaluator()
    rows = evaluator.rows(outputs, targets, [0, 1, 2])
    assert rows == [
        {"mask_iou": 0.5, "box_iou": 0.5},
        {"mask_iou": 0.0, "box_iou": 0.0},
        {"mask_iou": 1.0, "box_iou": 1.0},
    ]
    assert evaluator.summarize(rows) == {"mask_iou": 0.5, "box_iou": 0.5}
    assert all(math.isnan(v) for v in evaluator.summarize([]).values())  # no validation image


def test_isic_data_gets_the_isic_evaluator_also_as_a_subset_and_a_given_one_wins(synthetic_root):
    from isicseg.evaluation import IsicEvaluator

    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64)
    assert type(Trainer().evaluator_for(val)) is IsicEvaluator
    assert isinstance(Trainer(evaluator=DetectionEvaluator()).evaluator_for(val), DetectionEvaluator)
    nested = torch.utils.data.Subset(torch.utils.data.Subset(val, [3, 1, 2]), [2, 0])  # images 2 and 3
    evaluator = Trainer().evaluator_for(nested)
    assert type(evaluator) is IsicEvaluator and [evaluator._image(i) for i in (0, 1)] == [2, 3]
    empty = {
        "scores": torch.zeros(0),
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, 1, 64, 85),
    }
    rows = evaluator.rows([empty, empty], [{}, {}], [0, 1])
    assert [r["image_id"] for r in rows] == [
        val.records[2].image_id,
        val.records[3].image_id,
    ]  # the subset's images, not the first two
    assert type(Trainer().evaluator_for(torch.utils.data.TensorDataset(torch.zeros(2)))) is DetectionEvaluator
    with pytest.raises(
        ConfigError, match=r"IsicEvaluator scores ISIC 2017 or HAM10000 data \(or a Subset of it\); got TensorDataset"
    ):
        IsicEvaluator(torch.utils.data.TensorDataset(torch.zeros(2)))


def test_engine_imports_neither_data_nor_evaluation():
    for path in ENGINE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert not module.startswith(("..data", "..evaluation", "isicseg.data", "isicseg.evaluation")), (
                    f"{path.name} imports {module}"
                )
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("isicseg.data", "isicseg.evaluation")) for a in node.names), path.name


def test_an_evaluator_with_predict_makes_the_validation_outputs(synthetic_root):
    from isicseg.engine.validation import _outputs
    from isicseg.evaluation import IsicEvaluator

    calls = []

    class Answering(DetectionEvaluator):
        def predict(self, model, images):
            calls.append(len(images))
            return [
                {"scores": torch.zeros(0), "boxes": torch.zeros(0, 4), "masks": torch.zeros(0, 1, 4, 4)} for _ in images
            ]

    assert _outputs(Answering(), lambda images: 1 / 0, [torch.zeros(3, 4, 4)] * 2)[0][
        "scores"
    ].numel() == 0 and calls == [2]
    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64, subset=2)
    evaluator = IsicEvaluator(val, config=InferenceConfig(tta=True, postprocess=True))
    assert (evaluator.config.tta, evaluator.config.postprocess, evaluator.config.precision) == (True, True, "fp32")
    assert IsicEvaluator(val).config == InferenceConfig()
    with pytest.raises(ConfigError, match=r"IsicEvaluator: config must be an isicseg.InferenceConfig; got dict"):
        IsicEvaluator(val, config={"precision": "fp16"})


def test_the_newest_default_evaluator_for_a_type_wins_and_bad_registrations_are_refused(monkeypatch):
    from isicseg.engine import validation

    monkeypatch.setattr(validation, "_DEFAULT_EVALUATORS", list(validation._DEFAULT_EVALUATORS))
    data = torch.utils.data.TensorDataset(torch.zeros(2))
    validation.register_default_evaluator(torch.utils.data.TensorDataset, lambda d: "first")
    validation.register_default_evaluator(torch.utils.data.TensorDataset, lambda d: "second")
    assert Trainer().evaluator_for(data) == "second"
    with pytest.raises(ConfigError, match=r"needs a class and a callable; got 'TensorDataset'"):
        validation.register_default_evaluator("TensorDataset", lambda d: None)


def test_isic_evaluator_answers_with_its_configs_answer_rule(synthetic_root):
    from isicseg.evaluation import IsicEvaluator

    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64, subset=1)
    _, target = val[0]
    lesion = target["masks"][0].float()
    corner = torch.zeros_like(lesion)
    corner[:3, :3] = 1  # a far-off object in the corner scores highest
    assert not (corner.bool() & lesion.bool()).any()
    output = {
        "boxes": torch.stack([torch.tensor([0.0, 0, 3, 3]), target["boxes"][0].float()]),
        "labels": torch.tensor([1, 1]),
        "scores": torch.tensor([0.7, 0.5]),
        "masks": torch.stack([corner, lesion])[:, None] * 0.9,
    }
    rows = {
        rule: IsicEvaluator(val, config=InferenceConfig(answer_rule=rule)).rows([output], [target], [0])[0]
        for rule in ("top", "central")
    }
    assert rows["top"]["jaccard"] < 0.05 and rows["central"]["jaccard"] > 0.9


def test_isic_evaluator_cuts_masks_at_its_configs_threshold(synthetic_root):
    from isicseg.evaluation import IsicEvaluator

    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64, subset=1)
    _, target = val[0]
    lesion = target["masks"][0].float()
    output = {
        "boxes": target["boxes"][:1].float(),
        "labels": torch.tensor([1]),
        "scores": torch.tensor([0.9]),
        "masks": (lesion * 0.45)[None, None],  # the whole lesion at probability 0.45
    }
    rows = {
        threshold: IsicEvaluator(val, config=InferenceConfig(mask_threshold=threshold)).rows([output], [target], [0])[0]
        for threshold in (0.4, 0.5)
    }
    assert rows[0.4]["jaccard"] > 0.9 and rows[0.5]["jaccard"] == 0.0  # (resized to the original size: edges blur)
