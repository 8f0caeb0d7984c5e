"""A model's identity (``model.identity``): built, saved in checkpoints, read back, and read by evaluate/predict."""

from __future__ import annotations

import pytest
import torch

from isicseg import ISIC2017Dataset, build_mask_rcnn, evaluate, load_model, predict
from isicseg.exceptions import ConfigError, WeightsError
from isicseg.models import FEW_PROPOSALS, ModelIdentity

SMALL = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96, **FEW_PROPOSALS}


def test_the_identity_says_how_to_rebuild_and_read_the_model(tmp_path):
    torch.manual_seed(0)
    model = build_mask_rcnn(4, pretrained="none", label_scheme="three_class", **SMALL)
    identity = model.identity
    assert (identity.num_classes, identity.backbone, identity.norm, identity.label_scheme, identity.pretrained) == (
        4,
        "resnet18_fpn",
        "gn",
        "three_class",
        "none",
    )
    assert identity.image_size == 64 and dict(identity.options) == FEW_PROPOSALS
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "identity": identity.to_dict()}, path)
    loads = []
    real_load = torch.load
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
        again = load_model(path)
    assert loads == [path]  # the file is read once
    assert again.identity == identity.replace(pretrained=str(path))
    image = torch.rand(3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()([image])[0]["masks"], model.eval()([image])[0]["masks"])


def test_unknown_or_missing_identity_keys_name_the_file(tmp_path):
    good = build_mask_rcnn(3, **SMALL).identity.to_dict()
    with pytest.raises(WeightsError, match=r"model description in a.pt has unknown keys colour; known: .*backbone"):
        ModelIdentity.from_dict({**good, "colour": "red"}, source="a.pt")
    with pytest.raises(WeightsError, match=r"model description in b.pt lacks backbone, norm"):
        ModelIdentity.from_dict(
            {"num_classes": 3, "trainable_layers": 5, "min_size": 64, "max_size": 96}, source="b.pt"
        )


def test_a_label_scheme_must_match_the_class_count():
    with pytest.raises(
        ConfigError, match=r"Label scheme 'binary' has 3 classes \(background included\); num_classes=4 was asked for"
    ):
        build_mask_rcnn(4, label_scheme="binary", **SMALL)


def test_evaluate_and_predict_read_the_label_scheme_from_the_model(synthetic_root):
    torch.manual_seed(0)
    model = build_mask_rcnn(4, label_scheme="three_class", **SMALL)
    with pytest.raises(
        ConfigError, match=r"Label scheme 'binary' has 3 classes \(background included\) but the model has 4"
    ):
        evaluate(model, ISIC2017Dataset(synthetic_root, "test", label_scheme="binary", image_size=64))
    files = sorted(synthetic_root.glob("*_Test*_Data/*.jpg"))[:2]
    answers = list(predict(model, files))  # no scheme given: the model's own
    assert len(answers) == 2 and all(
        a.probabilities["seborrheic_keratosis"] == a.probabilities["seborrheic_keratosis"] for a in answers
    )
    plain = build_mask_rcnn(4, **SMALL)
    with pytest.raises(ConfigError, match=r"predict: the model does not name its label scheme"):
        list(predict(plain, files))


def test_load_model_takes_torchvision_options_only_from_the_file(tmp_path):
    model = build_mask_rcnn(3, label_scheme="binary", **SMALL)
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
    with pytest.raises(
        ConfigError,
        match=r"load_model: the MaskRCNN options come from the file; pass identity fields such as num_classes=",
    ):
        load_model(path, options={"box_detections_per_img": 5})
