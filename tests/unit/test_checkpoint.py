"""``read_checkpoint``: the one reader of weight files, returning a typed ``Checkpoint``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import isicseg
from isicseg import build_mask_rcnn, load_model, read_checkpoint
from isicseg.checkpoint import IDENTITY_KEY, Checkpoint
from isicseg.engine import save_checkpoint
from isicseg.exceptions import WeightsError
from isicseg.models import FEW_PROPOSALS, ModelIdentity

SMALL = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 96, **FEW_PROPOSALS}
PACKAGE = Path(isicseg.__file__).parent


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_mask_rcnn(3, label_scheme="binary", **SMALL)


def test_a_checkpoint_reads_back_as_typed_fields(model, tmp_path):
    path = save_checkpoint(
        {"model": model.state_dict(), IDENTITY_KEY: model.identity.to_dict(), "epoch": 2, "run_config": {"a": 1}},
        tmp_path / "last.pt",
    )
    checkpoint = read_checkpoint(path)
    assert isinstance(checkpoint, Checkpoint) and checkpoint.path == path
    assert isinstance(checkpoint.identity, ModelIdentity) and checkpoint.identity == model.identity
    assert (checkpoint.epoch, checkpoint.run_config) == (2, {"a": 1})
    assert checkpoint.weights.keys() == model.state_dict().keys()
    assert checkpoint.contents["epoch"] == 2 and "model_sha256" in checkpoint.contents
    assert load_model(checkpoint).identity == model.identity.replace(pretrained=str(path))  # no second read


def test_a_plain_state_dict_has_no_identity(model, tmp_path):
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    checkpoint = read_checkpoint(tmp_path / "plain.pth")
    assert (checkpoint.identity, checkpoint.epoch, checkpoint.run_config) == (None, None, None)
    assert checkpoint.contents.keys() == {"model"} and checkpoint.weights.keys() == model.state_dict().keys()


def test_the_identity_is_stored_under_one_name_with_its_fields_own_names(model, synthetic_root, tmp_path):
    from isicseg import ISIC2017Dataset
    from isicseg.engine import Trainer, TrainerConfig

    stored = model.identity.to_dict()
    assert set(stored) == {"num_classes", "backbone", "norm", "trainable_layers", "min_size", "max_size"} | {
        "classifier",
        "classifier_loss_weight",
        "label_scheme",
        "pretrained",
        "options",
        "mask_resolution",
    }
    data = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    Trainer(TrainerConfig(epochs=1, batch_size=2, num_workers=0, out_dir=str(tmp_path))).fit(model, data)
    written = read_checkpoint(tmp_path / "last.pt")
    assert written.contents[IDENTITY_KEY] == stored and "model_config" not in written.contents
    assert written.identity == model.identity and written.epoch == 0


def test_a_0_2_0_checkpoint_is_still_read(model, tmp_path):
    old = model.identity.to_dict()
    old["extra"] = old.pop("options")  # 0.2.0's names: "model_config", and "extra" for the options
    torch.save({"model": model.state_dict(), "model_config": old}, tmp_path / "old.pt")
    assert read_checkpoint(tmp_path / "old.pt").identity == model.identity
    assert dict(load_model(tmp_path / "old.pt").identity.options) == FEW_PROPOSALS


def test_an_unreadable_identity_names_the_file(model, tmp_path):
    torch.save({"model": model.state_dict(), IDENTITY_KEY: {"num_classes": 3}}, tmp_path / "half.pt")
    with pytest.raises(WeightsError, match=r"model description in .*half.pt lacks backbone, norm"):
        read_checkpoint(tmp_path / "half.pt")


def test_read_checkpoint_is_the_only_caller_of_torch_load():
    callers = []
    for file in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "load" and getattr(node.value, "id", None) == "torch":
                callers.append(file.relative_to(PACKAGE).as_posix())
    assert callers == ["checkpoint.py"]
