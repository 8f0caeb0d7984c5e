"""The trained lesion classifier: its views, its model, its training through the Trainer, and its head."""

from __future__ import annotations

import shutil

import pytest
import torch
from torchvision.models import mobilenet_v2

from isicseg import Trainer, TrainerConfig, build_mask_rcnn
from isicseg.exceptions import ConfigError, UnknownNameError
from isicseg.metrics import roc_auc
from isicseg.models import FEW_PROPOSALS
from isicseg.models.classifier import (
    LesionClassifier,
    TrainedLesionHead,
    lesion_views,
    predict_proba,
)
from isicseg.models.classifier_training import ClassificationEvaluator, ClassifierTask, LesionCropDataset

from ...helpers import SHARED


def test_lesion_views_cut_the_loose_box_and_the_whole_image():
    image = torch.zeros(1, 3, 60, 80)
    image[:, 0, 20:40, 30:50] = 1.0  # a red square: the lesion
    views = lesion_views(image, [torch.tensor([30.0, 20, 50, 40])], size=24, margin=0.0, color_power=0)
    assert views.shape == (1, 2, 3, 24, 24)
    crop, whole = views[0]
    assert float(crop[0].mean()) > 0.9 and float(crop[1:].max()) == 0  # the crop is the lesion
    assert 0.05 < float(whole[0].mean()) < 0.2  # the whole image: 400 of 4800 pixels are red
    none = lesion_views(image, [None], size=24, color_power=0)
    torch.testing.assert_close(none[0, 0], none[0, 1])  # no box: both views are the whole image


def test_the_classifier_checks_its_arguments_and_input():
    with pytest.raises(UnknownNameError, match=r"resnet5"):
        LesionClassifier(2, backbone="resnet5", weights=None)
    with pytest.raises(ConfigError, match=r"LesionClassifier: dropout must be a number in \[0, 1\); got 1.0"):
        LesionClassifier(2, weights=None, dropout=1.0)
    with pytest.raises(ConfigError, match=r"weights must be 'imagenet' or None; got 'coco'"):
        LesionClassifier(2, weights="coco")
    model = LesionClassifier(2, weights=None)
    with pytest.raises(
        ConfigError, match=r"takes \(batch, 2, 3, S, S\) images in \[0, 1\]; got shape \(4, 3, 32, 32\)"
    ):
        model(torch.rand(4, 3, 32, 32))


def test_imagenet_weights_come_from_torch_home(tmp_path, monkeypatch):
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    reference = mobilenet_v2()
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    model = LesionClassifier(2, weights="imagenet", download=False)
    torch.testing.assert_close(model.body[0][0][0].weight, reference.features[0][0].weight)


class ToyLesions(torch.utils.data.Dataset):
    """Red lesions are class 1 (label 1), blue ones class 2, on grey skin; boxes in the detection contract."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            label = 1 + i % 2
            image = 0.5 + 0.1 * torch.rand(3, 48, 48, generator=generator)
            x, y = (int(v) for v in torch.randint(4, 24, (2,), generator=generator))
            colour = torch.tensor([0.9, 0.2, 0.2] if label == 1 else [0.2, 0.2, 0.9])[:, None, None]
            image[:, y : y + 20, x : x + 20] = colour + 0.05 * torch.rand(3, 20, 20, generator=generator)
            box = torch.tensor([[x, y, x + 20, y + 20]], dtype=torch.float32)
            self.items.append((image, {"boxes": box, "labels": torch.tensor([label]), "image_id": f"toy{i}"}))
        self.labels = [t["labels"].item() for _, t in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


@pytest.fixture
def imagenet_home(tmp_path, monkeypatch):
    """A TORCH_HOME holding torchvision's real ImageNet MobileNetV2 file from ../shared (a copy, removed after)."""
    weights = SHARED / "weights" / "mobilenet_v2-b0353104.pth"
    if not weights.is_file():
        pytest.skip(f"{weights} is absent (it comes with the project's shared data)")
    (tmp_path / "home" / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(weights, tmp_path / "home" / "hub" / "checkpoints" / weights.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


@pytest.mark.slow
def test_a_classifier_trained_by_the_trainer_separates_a_toy_problem_in_eval_mode(tmp_path, imagenet_home):
    # fine-tuned from ImageNet, as the classifier is meant to be: from random weights at these batch sizes
    # BatchNorm's running statistics make eval mode answer wrongly (measured: AUC 0.0-0.66 while the loss fell)
    torch.manual_seed(0)
    classifier = LesionClassifier(2, weights="imagenet", dropout=0.0, download=False)
    task = ClassifierTask(classifier, class_weights=[1.0, 1.0])
    train = LesionCropDataset(ToyLesions(64, seed=0), size=32, augment=True, color_power=0)
    test = LesionCropDataset(ToyLesions(16, seed=1), size=32, color_power=0)
    config = TrainerConfig(
        epochs=3, batch_size=16, optimizer="adamw", lr=1e-3, warmup_steps=2, device="cpu", out_dir=str(tmp_path / "run")
    )
    trainer = Trainer(config, evaluator=ClassificationEvaluator(["red", "blue"]))
    trainer.fit(task, train, test)
    assert trainer.history[-1]["val_auc_red"] > 0.95  # validated in eval mode (BatchNorm's running statistics)
    classifier.eval()
    x = torch.stack([test[i][0] for i in range(len(test))])
    truth = torch.tensor([test[i][1]["labels"].item() for i in range(len(test))])
    with torch.no_grad():
        averaged = predict_proba(classifier, x, views=8)[:, 1]
    assert roc_auc((truth == 1).int().tolist(), averaged.tolist()) > 0.95  # the 8 dihedral views answer as well


def test_the_task_weights_classes_and_answers_probabilities():
    torch.manual_seed(0)
    classifier = LesionClassifier(3, weights=None)
    x, labels = torch.rand(4, 2, 3, 32, 32), torch.tensor([0, 1, 2, 2])
    targets = [{"labels": label} for label in labels]
    plain = ClassifierTask(classifier).train()
    heavy = ClassifierTask(classifier, class_weights=[1.0, 1.0, 10.0]).train()
    classifier.eval()  # no dropout: the same logits for both
    a, b = plain(list(x), targets)["loss_classifier"], heavy(list(x), targets)["loss_classifier"]
    logits = classifier(x)
    weights = torch.tensor([1.0, 1.0, 10.0])[labels]
    expected = (torch.nn.functional.cross_entropy(logits, labels, reduction="none") * weights).sum() / weights.sum()
    torch.testing.assert_close(b, expected)
    assert not torch.allclose(a, b)
    answers = ClassifierTask(classifier, eval_views=4).eval()(list(x))
    assert len(answers) == 4 and all(abs(float(a["scores"].sum()) - 1) < 1e-5 for a in answers)
    with pytest.raises(ConfigError, match=r"class_weights must be a number > 0; got 0"):
        ClassifierTask(classifier, class_weights=[1, 0, 1])


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A TORCH_HOME with a (random) MobileNetV2 ImageNet file."""
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mobilenet_v2().state_dict(), tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path


def test_the_head_answers_with_the_classifier_and_the_detector_never_trains_it(torch_home):
    torch.manual_seed(0)
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, classifier="lesion_classifier", **FEW_PROPOSALS
    )
    head = model.classifier
    assert isinstance(head, TrainedLesionHead) and not any(p.requires_grad for p in head.parameters())
    model.train()
    assert not head.classifier.training  # frozen BatchNorm and no dropout while the detector trains
    images = torch.rand(2, 3, 64, 64)
    logits = head({}, images=images, image_sizes=[(64, 64)] * 2, boxes=[torch.tensor([8.0, 8, 40, 40]), None])
    assert logits.shape == (2, 2) and not logits.requires_grad  # adds no loss to the detector's
    trained = LesionClassifier(2, weights=None)
    with torch.no_grad():
        trained.linear.bias.copy_(torch.tensor([-20.0, 20.0]))  # says "melanoma" whatever it sees
    head.load_classifier(trained)
    model.eval()
    with torch.no_grad():
        answers = model([torch.rand(3, 64, 64), torch.rand(3, 48, 64)])
    assert all(float(a["class_scores"][2]) > 0.99 for a in answers)  # the model answers with the classifier
