"""Training a :class:`~isicseg.models.classifier.LesionClassifier` with the :class:`~isicseg.Trainer`.

:class:`LesionCropDataset` turns a detection dataset into lesion views and labels,
:class:`ClassifierTask` puts the classifier in the Trainer's contract (losses in training,
probabilities in eval mode) with a class-weighted loss, and :class:`ClassificationEvaluator`
gives ``val_auc_<class>`` for early stopping and checkpoint selection::

    task = ClassifierTask(LesionClassifier(3), class_weights=[1.0, 1.5, 2.5])
    trainer = Trainer(TrainerConfig(epochs=15, batch_size=32, optimizer="adamw", lr=3e-4),
                      evaluator=ClassificationEvaluator(["nevus", "seborrheic_keratosis", "melanoma"]))
    trainer.fit(task, LesionCropDataset(train, augment=True), LesionCropDataset(val))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._numbers import check_number
from ..exceptions import ConfigError
from ..metrics.classification import roc_auc
from .classifier import _dihedral, lesion_views, predict_proba

__all__ = ["ClassificationEvaluator", "ClassifierTask", "LesionCropDataset"]


class LesionCropDataset(torch.utils.data.Dataset):
    """The lesion views of a detection dataset's images, with their labels, to train a lesion classifier.

    The items train a :class:`~isicseg.models.classifier.LesionClassifier`.

    Each item is ``(views, target)``: views ``(2, 3, size, size)`` from the image's
    ground-truth box (the box around all its instances), and ``target`` with ``labels``
    (the foreground class index, ``label - 1``), ``boxes`` (that box, in the image) and
    ``image_id``. With ``augment`` the box is jittered (so the classifier sees boxes like the
    detector's), the margin varies, and each view gets a random dihedral turn and colour jitter.

    Args:
        dataset: Items ``(image, target)`` in torchvision's detection contract (e.g.
            :class:`~isicseg.ISIC2017Dataset`), images in [0, 1].
        size: Side of each view.
        margin: Margin around the box (its mean with ``augment``).
        jitter: Box jitter with ``augment``, as a fraction of the box size.
        augment: Random box, margin, turns and colour.
        color_power: Shades-of-grey ``p`` (0: off), as :func:`~isicseg.models.classifier.lesion_views`.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        size: int = 160,
        margin: float = 0.15,
        jitter: float = 0.1,
        augment: bool = False,
        color_power: float = 6.0,
    ) -> None:
        check_number(size, "size", low=16, high=1024, integer=True, where="LesionCropDataset: ")
        check_number(margin, "margin", low=0, high=2, where="LesionCropDataset: ")
        check_number(jitter, "jitter", low=0, high=1, where="LesionCropDataset: ")
        check_number(color_power, "color_power", low=0, high=64, where="LesionCropDataset: ")
        self.dataset, self.size, self.margin, self.jitter = dataset, int(size), float(margin), float(jitter)
        self.augment, self.color_power = bool(augment), float(color_power)
        self.label_scheme = getattr(dataset, "label_scheme", None)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> list[int]:
        """The class label of each item (the detection label, background = 0), for balanced sampling."""
        return list(self.dataset.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        image, target = self.dataset[index]
        image = torch.as_tensor(image).float()
        boxes = torch.as_tensor(target["boxes"]).reshape(-1, 4)
        box = torch.cat([boxes[:, :2].amin(0), boxes[:, 2:].amax(0)]) if len(boxes) else None
        margin = self.margin * float(torch.empty(()).uniform_(0.5, 2.0)) if self.augment else self.margin
        views = lesion_views(
            image[None],
            [box],
            size=self.size,
            margin=margin,
            jitter=self.jitter if self.augment else 0.0,
            color_power=self.color_power,
        )[0]
        if self.augment:
            views = torch.stack([_augment(view) for view in views])
        label = int(torch.as_tensor(target["labels"]).reshape(-1)[0]) - 1 if len(boxes) else -1
        # the lesion's box in its image rides along, so that items keep the Trainer's detection contract
        kept = box[None] if box is not None else torch.zeros((0, 4))
        return views, {"labels": torch.tensor(label), "boxes": kept, "image_id": target.get("image_id")}


def _augment(view: Tensor) -> Tensor:
    """A random dihedral turn and colour jitter (brightness, contrast, saturation +-20%) of one ``(3, S, S)`` view."""
    view = _dihedral(view, int(torch.randint(0, 8, ())))
    brightness, contrast, saturation = (1 + (torch.rand(3) * 0.4 - 0.2)).tolist()
    view = view * brightness
    mean = view.mean()
    view = (view - mean) * contrast + mean
    grey = view.mean(dim=0, keepdim=True)
    return ((view - grey) * saturation + grey).clamp(0, 1)


class ClassifierTask(nn.Module):
    """A lesion classifier in the Trainer's contract.

    Wraps a :class:`~isicseg.models.classifier.LesionClassifier` for the :class:`~isicseg.Trainer`:
    ``(images, targets) -> losses`` in training, ``images -> [{"scores": probabilities}]`` in eval mode.

    Args:
        classifier: The model to train.
        class_weights: Weight of each class in the cross-entropy (e.g. melanoma 2.5x), or ``None``.
        eval_views: Dihedral views averaged in eval mode (1, 2, 4 or 8).
    """

    def __init__(
        self, classifier: torch.nn.Module, *, class_weights: Sequence[float] | None = None, eval_views: int = 1
    ) -> None:
        super().__init__()
        self.classifier = classifier
        if class_weights is not None:
            for weight in class_weights:
                check_number(weight, "class_weights", low=0, low_open=True, where="ClassifierTask: ")
            self.register_buffer("class_weights", torch.tensor([float(w) for w in class_weights]), persistent=False)
        else:
            self.class_weights = None
        if eval_views not in (1, 2, 4, 8):
            raise ConfigError(f"ClassifierTask: eval_views must be one of 1, 2, 4, 8; got {eval_views!r}.")
        self.eval_views = eval_views

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[dict[str, Any]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """``{"loss_classifier": ...}`` in training; one ``{"scores": (num_outputs,) probabilities}`` per image
        in eval mode. ``images`` are ``(views, 3, S, S)`` tensors, ``targets`` dicts with ``labels``."""
        x = torch.stack(list(images))
        if self.training:
            if targets is None:
                raise ConfigError("ClassifierTask needs targets with 'labels' in training mode.")
            labels = torch.stack([torch.as_tensor(t["labels"]).reshape(()) for t in targets]).to(x.device)
            logits = self.classifier(x)
            return {"loss_classifier": F.cross_entropy(logits.float(), labels, weight=self.class_weights)}
        probabilities = predict_proba(self.classifier, x, views=self.eval_views)
        return [{"scores": row} for row in probabilities]


class ClassificationEvaluator:
    """AUC of each foreground class (one against the rest) on the validation split: ``val_auc_<class>``.

    Args:
        class_names: Names of the foreground classes, in output order (a label scheme's
            ``class_names[1:]``).
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)

    def rows(
        self, outputs: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]
    ) -> list[dict[str, Any]]:
        return [
            {"label": int(torch.as_tensor(t["labels"])), "scores": o["scores"].float().tolist()}
            for o, t in zip(outputs, targets)
        ]

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        labels = [r["label"] for r in rows]
        out = {}
        for index, name in enumerate(self.class_names):
            truth = [int(label == index) for label in labels]
            out[f"auc_{name}"] = roc_auc(truth, [r["scores"][index] for r in rows]) if rows else float("nan")
        return out
