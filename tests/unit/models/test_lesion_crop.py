"""The ``lesion_crop`` head: frozen ImageNet MobileNetV2 on the lesion crop, logistic regression fitted in closed form."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenet_v2

from isicseg import ISIC2017Dataset, build_mask_rcnn, load_model
from isicseg.engine import Trainer, TrainerConfig
from isicseg.exceptions import WeightsNotFoundError
from isicseg.models.heads import LesionCropClassifier, fit_logistic

from ...helpers import tiny_model

SMALL = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 64}


def test_fit_logistic_separates_and_the_penalty_shrinks_the_weights():
    torch.manual_seed(0)
    x = torch.randn(200, 5)
    y = (x[:, 0] + 0.3 * torch.randn(200) > 0).long()
    weak, _ = fit_logistic(x, y, 2, l2=0.01)
    strong, _ = fit_logistic(x, y, 2, l2=10.0)
    assert ((x @ weak.T).argmax(1) == y).float().mean() > 0.85
    assert float(strong.norm()) < 0.2 * float(weak.norm())
    # the informative feature carries the weight
    assert float((weak[1] - weak[0]).abs().argmax()) == 0


def test_init_weights_are_torchvisions_imagenet_features(imagenet_home):
    head = LesionCropClassifier(0, 3)
    head.init_weights(download=False)
    reference = mobilenet_v2()
    reference.load_state_dict(torch.load(imagenet_home, weights_only=True))
    reference.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(head.features(x), reference.features(x), rtol=1e-4, atol=1e-4)
    assert not any(p.requires_grad for p in head.parameters())


def test_missing_imagenet_file_is_a_clear_error(torch_home):
    with pytest.raises(WeightsNotFoundError, match=r"ImageNet weights mobilenet_v2-b0353104.pth are not in torchvision's cache"):
        build_mask_rcnn(3, classifier="lesion_crop", **SMALL)


def test_views_follow_the_box():
    torch.manual_seed(0)
    head = LesionCropClassifier(0, 3, crop_size=32).eval()
    images = torch.rand(1, 3, 64, 64)
    left, right, none = (head.embed(images, [(64, 64)], [box]) for box in (torch.tensor([0.0, 0, 20, 20]), torch.tensor([40.0, 40, 64, 64]), None))
    half = left.shape[1] // 2
    torch.testing.assert_close(left[:, half:], right[:, half:])  # the whole-image view does not move
    assert not torch.allclose(left[:, :half], right[:, :half])  # the lesion view does
    torch.testing.assert_close(none[:, :half], none[:, half:])  # no box: both views are the whole image
    torch.testing.assert_close(head.embed(images, [(64, 64)], [None]), none)  # eval: no jitter, deterministic


def coloured(colour: tuple[float, float, float], n: int) -> torch.Tensor:
    images = torch.rand(n, 3, 48, 48) * 0.2 + 0.4
    images[:, :, 12:36, 12:36] = torch.tensor(colour)[:, None, None] + 0.1 * torch.rand(n, 3, 24, 24)
    return images


def test_collects_in_training_fits_on_demand_and_saves_the_fit(tmp_path):
    torch.manual_seed(0)
    head = LesionCropClassifier(0, 3, crop_size=32).train()
    box = [torch.tensor([12.0, 12, 36, 36])] * 8
    images = torch.cat([coloured((0.9, 0.1, 0.1), 4), coloured((0.1, 0.1, 0.9), 4)])
    labels = torch.tensor([0] * 4 + [1] * 4)
    before = head({}, images=images, image_sizes=[(48, 48)] * 8, boxes=box, labels=labels)
    assert not before.requires_grad and float(before.abs().max()) == 0.0  # not fitted: uniform
    head({}, images=images, image_sizes=[(48, 48)] * 8, boxes=box, labels=torch.full((8,), -1))  # unlabelled: not kept
    head.fit_collected()
    head.eval()
    test = torch.cat([coloured((0.9, 0.1, 0.1), 3), coloured((0.1, 0.1, 0.9), 3)])
    logits = head({}, images=test, image_sizes=[(48, 48)] * 6, boxes=box[:6])
    assert logits.argmax(1).tolist() == [0, 0, 0, 1, 1, 1]
    fresh = LesionCropClassifier(0, 3, crop_size=32)
    fresh.load_state_dict(head.state_dict())
    torch.testing.assert_close(fresh.eval()({}, images=test, image_sizes=[(48, 48)] * 6, boxes=box[:6]), logits)


class CountingFit(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def fit_collected(self):
        self.calls += 1


def test_trainer_fits_closed_form_modules_after_each_epoch(synthetic_root):
    model = tiny_model()
    model.counter = CountingFit()
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    Trainer(TrainerConfig(epochs=2, batch_size=2, warmup_steps=0, optimizer="adamw", lr=1e-4)).fit(model, train)
    assert model.counter.calls == 2


def test_model_with_the_head_answers_and_reloads_without_the_imagenet_file(imagenet_home, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="lesion_crop", **SMALL)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([-2.0, 2.0]))
    path = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "model_config": model.isicseg_config}, path)
    imagenet_home.unlink()  # a trained model's file holds the head's weights
    loaded = load_model(path).eval()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        expected = model.eval()([image])[0]["class_scores"]
        got = loaded([image])[0]["class_scores"]
    torch.testing.assert_close(got, expected)
    assert float(got[2]) > 0.9 and float(got[0]) == 0.0
