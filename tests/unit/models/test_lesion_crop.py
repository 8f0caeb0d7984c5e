"""The ``lesion_crop`` head: frozen ImageNet MobileNetV2 on the lesion crop, logistic regression fitted in closed form."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenet_v2

from isicseg import ISIC2017Dataset, build_mask_rcnn, load_model
from isicseg.engine import Trainer, TrainerConfig
from isicseg.engine.fitting import ClosedFormFit
from isicseg.exceptions import ConfigError, WeightsNotFoundError
from isicseg.models.heads import LesionCropClassifier, fit_logistic

from ...helpers import tiny_model

SMALL = {"backbone": "resnet18_fpn", "min_size": 64, "max_size": 64}


def test_fit_logistic_separates_and_the_penalty_shrinks_the_weights():
    torch.manual_seed(0)
    x = torch.randn(200, 5)
    y = (x[:, 0] + 0.3 * torch.randn(200) > 0).long()
    weak, _ = fit_logistic(x, y, num_outputs=2, l2=0.01)
    strong, _ = fit_logistic(x, y, num_outputs=2, l2=10.0)
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
    with pytest.raises(
        WeightsNotFoundError, match=r"ImageNet weights mobilenet_v2-b0353104.pth are not in torchvision's cache"
    ):
        build_mask_rcnn(3, classifier="lesion_crop", **SMALL)


def test_views_follow_the_box():
    torch.manual_seed(0)
    head = LesionCropClassifier(0, 3, crop_size=32).eval()
    images = torch.rand(1, 3, 64, 64)
    left, right, none = (
        head.embed(images, image_sizes=[(64, 64)], boxes=[box])
        for box in (torch.tensor([0.0, 0, 20, 20]), torch.tensor([40.0, 40, 64, 64]), None)
    )
    half = left.shape[1] // 2
    torch.testing.assert_close(left[:, half:], right[:, half:])  # the whole-image view does not move
    assert not torch.allclose(left[:, :half], right[:, :half])  # the lesion view does
    torch.testing.assert_close(none[:, :half], none[:, half:])  # no box: both views are the whole image
    torch.testing.assert_close(
        head.embed(images, image_sizes=[(64, 64)], boxes=[None]), none
    )  # eval: no jitter, deterministic


def _normalised(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[
        :, None, None
    ]


def test_shades_of_grey_balances_each_image_and_is_saved_with_the_model():
    torch.manual_seed(0)
    head = LesionCropClassifier(0, 3, crop_size=32)
    scene = torch.rand(2, 3, 32, 32) * 0.4 + 0.1
    cast = scene * torch.tensor([1.6, 1.0, 0.7])[:, None, None]  # a reddish illuminant, no pixel clipped
    views = _normalised(torch.stack([cast[0], cast[0], cast[1], cast[1]]))  # (lesion, whole) of two images
    rgb = (
        head._shades_of_grey(views) * torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    )
    p_means = rgb[1::2].pow(6).mean(dim=(-2, -1)).pow(1 / 6)
    torch.testing.assert_close(p_means, p_means[:, :1].expand(-1, 3), rtol=1e-3, atol=1e-4)  # grey-balanced
    before = cast[1::1].pow(6).mean(dim=(-2, -1)).pow(1 / 6)
    assert float(before[:, 0].min()) > 1.3 * float(before[:, 2].max())  # it was not
    assert float(head.state_dict()["color_power"]) == 6.0
    plain = LesionCropClassifier(0, 3, crop_size=32, color_power=0.0).eval()
    plain.features.load_state_dict(head.features.state_dict())
    images = _normalised(cast)
    assert not torch.allclose(
        plain.embed(images, image_sizes=[(32, 32)] * 2, boxes=[None, None]),
        head.eval().embed(images, image_sizes=[(32, 32)] * 2, boxes=[None, None]),
    )
    head.load_state_dict(plain.state_dict())  # the checkpoint says how its features were made
    assert float(head.color_power) == 0.0
    torch.testing.assert_close(
        head.embed(images, image_sizes=[(32, 32)] * 2, boxes=[None, None]),
        plain.embed(images, image_sizes=[(32, 32)] * 2, boxes=[None, None]),
    )
    older = {k: v for k, v in plain.state_dict().items() if k != "color_power"}
    head.color_power.fill_(6.0)
    head.load_state_dict(older)  # written before colour constancy existed: fitted without it
    assert float(head.color_power) == 0.0


def test_eval_features_do_not_change_when_the_image_turns_or_mirrors():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 40, 40)
    box = torch.tensor([4.0, 8.0, 30.0, 20.0])
    turned = torch.rot90(image, 1, dims=(-2, -1))  # (x, y) -> (y, W - x)
    turned_box = torch.tensor([box[1], 40 - box[2], box[3], 40 - box[0]])
    mirrored, mirrored_box = image.flip(-1), torch.tensor([40 - box[2], box[1], 40 - box[0], box[3]])
    head = LesionCropClassifier(0, 3, crop_size=32).eval()
    reference = head.embed(image, image_sizes=[(40, 40)], boxes=[box])
    for other, other_box in ((turned, turned_box), (mirrored, mirrored_box)):
        torch.testing.assert_close(
            head.embed(other, image_sizes=[(40, 40)], boxes=[other_box]), reference, rtol=1e-4, atol=1e-4
        )
    head.views = 1
    one, other = (
        head.embed(turned, image_sizes=[(40, 40)], boxes=[turned_box]),
        head.embed(image, image_sizes=[(40, 40)], boxes=[box]),
    )
    assert float((one - other).norm() / other.norm()) > 0.01  # a single view is not invariant
    with pytest.raises(ConfigError, match=r"LesionCropClassifier views must be one of 1, 2, 4, 8; got 3"):
        LesionCropClassifier(0, 3, views=3)


def coloured(colour: tuple[float, float, float], n: int) -> torch.Tensor:
    images = torch.rand(n, 3, 48, 48) * 0.2 + 0.4
    images[:, :, 12:36, 12:36] = torch.tensor(colour)[:, None, None] + 0.1 * torch.rand(n, 3, 24, 24)
    return images


@pytest.mark.slow
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
    """A closed-form module (ClosedFormFit by its methods alone) that records what the Trainer gave it."""

    def __init__(self):
        super().__init__()
        self.given = []

    def collected_samples(self):
        return {"epoch_rows": len(self.given)}

    def fit_samples(self, samples):
        self.given.append(samples)


@pytest.mark.slow
def test_trainer_fits_closed_form_modules_after_each_epoch(synthetic_root):
    model = tiny_model()
    model.counter = CountingFit()
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    Trainer(TrainerConfig(epochs=2, batch_size=2, warmup_steps=0, optimizer="adamw", lr=1e-4)).fit(model, train)
    assert model.counter.given == [[{"epoch_rows": 0}], [{"epoch_rows": 1}]]  # one process: its own samples, in a list
    assert isinstance(LesionCropClassifier(0, 3, crop_size=32), ClosedFormFit)


@pytest.mark.slow
def test_model_with_the_head_answers_and_reloads_without_the_imagenet_file(imagenet_home, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="lesion_crop", **SMALL)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([-2.0, 2.0]))
    path = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
    imagenet_home.unlink()  # a trained model's file holds the head's weights
    loaded = load_model(path).eval()
    image = torch.rand(3, 64, 64)
    with torch.no_grad():
        expected = model.eval()([image])[0]["class_scores"]
        got = loaded([image])[0]["class_scores"]
    torch.testing.assert_close(got, expected)
    assert float(got[2]) > 0.9 and float(got[0]) == 0.0


def test_trainable_blocks_out_of_range_are_refused_with_the_range():
    for bad in (-1, 20, 2.5):
        with pytest.raises(
            ConfigError,
            match=rf"trainable_blocks must be an integer from 0 \(all frozen\) to 19 .*; got {bad!r}\.",
        ):
            LesionCropClassifier(0, 3, trainable_blocks=bad)


def test_frozen_features_carry_no_gradient_even_in_training_with_grad_enabled():
    head = LesionCropClassifier(0, 3, crop_size=32).train()
    embedding = head.embed(torch.rand(2, 3, 48, 48), image_sizes=[(48, 48)] * 2, boxes=[None, None])
    assert torch.is_grad_enabled() and not embedding.requires_grad


@pytest.mark.slow
def test_tuned_head_fine_tunes_its_last_blocks_and_answers_in_eval_mode(imagenet_home):
    torch.manual_seed(0)
    head = LesionCropClassifier(0, 3, crop_size=32, trainable_blocks=5)
    head.init_weights(download=False)  # (random MobileNetV2 features vanish with depth: nothing to tune)
    head.train()
    trainable = {name for name, p in head.named_parameters() if p.requires_grad}
    assert trainable == {
        name
        for name, _ in head.named_parameters()
        if name.startswith(("linear.", *(f"features.{i}." for i in range(14, 19))))
    }
    before = {name: p.detach().clone() for name, p in head.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=1e-3)
    box = [torch.tensor([12.0, 12, 36, 36])] * 8
    labels = torch.tensor([0] * 4 + [1] * 4)
    for _ in range(30):
        images = torch.cat([coloured((0.9, 0.1, 0.1), 4), coloured((0.1, 0.1, 0.9), 4)])
        logits = head({}, images=images, image_sizes=[(48, 48)] * 8, boxes=box, labels=labels)
        assert logits.requires_grad  # the model adds its cross-entropy to the training loss
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for name, p in head.named_parameters():
        if name not in trainable:
            assert torch.equal(p.detach(), before[name]), name  # the early ImageNet blocks stay as they are
    assert not any(torch.equal(head.state_dict()[n], before[n]) for n in ("linear.weight", "features.18.0.weight"))
    assert head.collected_samples() == []  # nothing to fit in closed form: the fit leaves it as it is
    assert not {"weight", "bias", "feature_mean", "feature_scale"} & set(head.state_dict())  # no closed-form state
    head.fit_collected()
    head.eval()
    test = torch.cat([coloured((0.9, 0.1, 0.1), 3), coloured((0.1, 0.1, 0.9), 3)])
    with torch.no_grad():
        logits = head({}, images=test, image_sizes=[(48, 48)] * 6, boxes=box[:6])
    assert logits.argmax(1).tolist() == [0, 0, 0, 1, 1, 1]  # eval mode (eight views), images it never saw
    fresh = LesionCropClassifier(0, 3, crop_size=32, trainable_blocks=5)
    fresh.load_state_dict(head.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()({}, images=test, image_sizes=[(48, 48)] * 6, boxes=box[:6]), logits)


@pytest.mark.slow
def test_model_with_the_tuned_head_trains_it_through_the_lesion_loss(imagenet_home, synthetic_root):
    torch.manual_seed(0)
    model = build_mask_rcnn(3, classifier="lesion_crop_tuned", **SMALL)
    assert model.identity.classifier == "lesion_crop_tuned" and model.classifier.trainable_blocks == 5
    reference = mobilenet_v2()
    reference.load_state_dict(torch.load(imagenet_home, weights_only=True))
    torch.testing.assert_close(model.classifier.features[18][0].weight, reference.features[18][0].weight)
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    images, targets = zip(*(train[i] for i in range(2)))
    assert float(model.classifier.linear.weight.detach().abs().max()) == 0.0  # the read-out starts at zero
    with torch.no_grad():
        model.classifier.linear.weight.normal_(0, 0.01)  # as after a first step, so the features get a gradient
    model.train()
    losses = model(list(images), list(targets))
    assert losses["loss_lesion_class"].requires_grad and float(losses["loss_lesion_class"].detach()) > 0
    losses["loss_lesion_class"].backward()
    assert model.classifier.linear.weight.grad.abs().sum() > 0
    assert model.classifier.features[18][0].weight.grad.abs().sum() > 0
    assert model.classifier.features[0][0].weight.grad is None  # ImageNet's early blocks stay as they are

    # the Trainer's optimiser fine-tunes the tail and leaves the early blocks as they were
    model.zero_grad()
    before = {name: p.detach().clone() for name, p in model.classifier.named_parameters()}
    Trainer(TrainerConfig(epochs=1, batch_size=2, warmup_steps=0, optimizer="adamw", lr=1e-3)).fit(
        model, ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=4)
    )
    moved = {name for name, p in model.classifier.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert {"linear.weight", "features.18.0.weight"} <= moved
    assert moved <= {name for name, p in model.classifier.named_parameters() if p.requires_grad}
    assert not any(name.startswith(tuple(f"features.{i}." for i in range(14))) for name in moved)
