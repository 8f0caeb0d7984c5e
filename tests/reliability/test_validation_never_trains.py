"""No validation image reaches any fit or any gradient, for every registered classifier head (issue 33 §3)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenet_v2

from isicseg import ISIC2017Dataset, Trainer, TrainerConfig, build_mask_rcnn
from isicseg.engine.fitting import ClosedFormFit
from isicseg.engine.trainer import collate
from isicseg.models import FEW_PROPOSALS
from isicseg.models.heads import list_heads


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A TORCH_HOME holding a (random) MobileNetV2 ImageNet file, for the heads that read one."""
    home = tmp_path_factory.mktemp("torch")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mobilenet_v2().state_dict(), home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    return home


def collected_rows(model: torch.nn.Module) -> int:
    rows = 0
    for module in model.modules():
        if isinstance(module, ClosedFormFit):
            rows += sum(len(labels) for _, labels in module.collected_samples())
    return rows


@pytest.mark.parametrize("head", list_heads())
def test_validation_feeds_no_fit_and_no_gradient(head, synthetic_root, torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.manual_seed(0)
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", pretrained="none", min_size=64, max_size=96, classifier=head, **FEW_PROPOSALS
    )
    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64)
    trainer = Trainer(TrainerConfig(device="cpu", eval_batch_size=2))
    model.train()
    metrics = trainer.validate(model, val)
    assert metrics["val_loss"] == metrics["val_loss"]  # it ran, with a finite loss
    assert collected_rows(model) == 0, f"{head}: validation images were collected for a fit"
    assert all(p.grad is None for p in model.parameters()), f"{head}: validation left gradients"
    # the same images in a training step do reach the head: the checks above can fail
    images, targets = collate([val[i] for i in range(len(val))])
    sum(model(list(images), list(targets)).values()).backward()
    trainable = [p for p in model.classifier.parameters() if p.requires_grad]
    closed_form = isinstance(model.classifier, ClosedFormFit) and not trainable  # fitted from what it collects
    assert collected_rows(model) == (len(val) if closed_form else 0)
    assert not trainable or any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in trainable)
