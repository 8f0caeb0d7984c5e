"""The lesion classifier head: trained jointly, decides p(category), saved with the checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from isicseg import build_mask_rcnn, load_model
from isicseg.data import make_target
from isicseg.exceptions import ConfigError, UnknownNameError
from isicseg.inference import answer_from_detections
from isicseg.models.heads import HEADS, LesionMaskRCNN, list_heads

SMALL = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 64}


def lesion(colour: float, label: int) -> tuple[torch.Tensor, dict]:
    image = torch.full((3, 64, 64), 0.8)
    image[:, 16:48, 12:52] = colour
    mask = (image[0] == colour).numpy().astype("uint8")
    target = make_target(mask, label, image_id=f"img{label}")
    return image, {k: v for k, v in target.items() if k in ("boxes", "labels", "masks")}


def test_head_is_registered_and_unknown_names_list_it():
    assert "pooled" in list_heads()
    with pytest.raises(
        UnknownNameError,
        match=r"Unknown head .pool.. Available: lesion_classifier, lesion_crop, lesion_crop_tuned, pooled",
    ):
        build_mask_rcnn(3, classifier="pool", **SMALL)


@pytest.mark.slow
def test_training_loss_has_the_head_and_ignores_images_without_lesion():
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="pooled", classifier_loss_weight=0.5, **SMALL).train()
    assert isinstance(model, LesionMaskRCNN) and model.identity.classifier == "pooled"
    image, target = lesion(0.2, 2)
    losses = model([image], [target])
    assert set(losses) >= {"loss_classifier", "loss_mask", "loss_lesion_class"}
    losses["loss_lesion_class"].backward()
    assert model.classifier.fc.weight.grad.abs().sum() > 0
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros(0, 64, 64, dtype=torch.uint8),
    }
    assert float(model([image], [empty])["loss_lesion_class"].detach()) == 0.0


@pytest.mark.slow
def test_images_whose_target_says_train_classifier_false_do_not_train_the_head():
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="pooled", **SMALL).train()
    image, target = lesion(0.2, 2)
    detector_only = {**target, "train_classifier": torch.tensor(False)}
    assert float(model([image], [detector_only])["loss_lesion_class"].detach()) == 0.0
    other, other_target = lesion(0.2, 1)

    def head_loss(second: dict) -> float:
        torch.manual_seed(1)
        return float(model([image, other], [target, second])["loss_lesion_class"].detach())

    # the second image's label moves the head's loss only when the head may learn from it
    ignored = head_loss({**other_target, "train_classifier": torch.tensor(False)})
    ignored_relabelled = head_loss(
        {**other_target, "labels": target["labels"], "train_classifier": torch.tensor(False)}
    )
    assert ignored == pytest.approx(ignored_relabelled, abs=1e-6)
    assert abs(head_loss(other_target) - ignored) > 1e-3
    torch.manual_seed(1)
    mixed = model([image, other], [target, {**other_target, "train_classifier": torch.tensor(False)}])
    assert float(mixed["loss_mask"].detach()) > 0  # the detector-only image still trains the detector


def test_training_without_targets_is_refused():
    model = build_mask_rcnn(3, classifier="pooled", **SMALL).train()
    with pytest.raises(ConfigError, match=r"In training mode the model needs targets .*; got targets=None"):
        model([torch.rand(3, 64, 64)])


@pytest.mark.slow
def test_head_learns_and_decides_p_melanoma():
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="pooled", **SMALL)
    benign, melanoma = lesion(0.6, 1), lesion(0.1, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(20):
        loss = model([benign[0], melanoma[0]], [benign[1], melanoma[1]])["loss_lesion_class"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        out_benign, out_melanoma = model([benign[0], melanoma[0]])
    answers = [answer_from_detections(out, "binary", image_id="x") for out in (out_benign, out_melanoma)]
    assert answers[1].probabilities["melanoma"] > 0.6 > 0.4 > answers[0].probabilities["melanoma"]
    assert answers[1].probabilities["melanoma"] == pytest.approx(float(out_melanoma["class_scores"][2]))
    assert math.isnan(answers[0].probabilities["seborrheic_keratosis"])  # binary: not told apart
    assert (answers[0].label, answers[1].label) == (1, 2)  # the predicted class is the head's


@pytest.mark.slow
def test_head_saved_and_loaded_with_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="pooled", **SMALL)
    with torch.no_grad():
        model.classifier.fc.bias.copy_(torch.tensor([-2.0, 2.0]))
    path = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
    loaded = load_model(path).eval()
    assert isinstance(loaded, LesionMaskRCNN)
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        expected = model.eval()([image])[0]["class_scores"]
        got = loaded([image])[0]["class_scores"]
    torch.testing.assert_close(got, expected)
    assert float(got[2]) > 0.9


def test_a_head_following_the_protocol_trains_and_answers():
    from isicseg.models.heads import LesionHead

    class MaxPooled(nn.Module):
        def __init__(self, in_channels, num_classes):
            super().__init__()
            self.linear = nn.Linear(in_channels, num_classes - 1)

        def forward(self, features, *, images, image_sizes, boxes, labels=None):
            return self.linear(list(features.values())[-1].amax(dim=(2, 3)))

    HEADS.register("test_max_pooled", MaxPooled)
    try:
        torch.manual_seed(0)
        model = build_mask_rcnn(3, backbone="resnet18_fpn", classifier="test_max_pooled", min_size=64, max_size=64)
        assert isinstance(model.classifier, LesionHead)
        image = torch.rand(3, 64, 64)
        target = make_target(np.pad(np.ones((20, 20), np.uint8), 22), 2, image_id="x")
        losses = model.train()([image], [target])
        assert losses["loss_lesion_class"].requires_grad and float(losses["loss_lesion_class"].detach()) > 0
        scores = model.eval()([image])[0]["class_scores"]
        assert scores.shape == (3,) and float(scores[0]) == 0 and float(scores.sum()) == pytest.approx(1)
    finally:
        HEADS.unregister("test_max_pooled")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda channels, classes: lambda features, **kw: None, r"its factory returned function, not an nn.Module"),
        (
            lambda channels, classes: type(
                "OnlyFeatures", (nn.Module,), {"forward": lambda self, features: features}
            )(),
            r"OnlyFeatures.forward cannot be called as forward\(features, images=..., image_sizes=..., boxes=..., labels=...\)",
        ),
    ],
)
def test_a_head_that_breaks_the_protocol_is_refused_when_the_model_is_built(factory, message):
    HEADS.register("test_broken", factory)
    try:
        with pytest.raises(ConfigError, match=rf"Head 'test_broken': {message}"):
            build_mask_rcnn(3, backbone="resnet18_fpn", classifier="test_broken", min_size=64, max_size=64)
    finally:
        HEADS.unregister("test_broken")
