"""An image-level lesion classifier trained jointly with Mask R-CNN.

Mask R-CNN's box classifier sees a 7x7 RoI of the image and learns little about
melanoma from a few hundred examples. A lesion classifier on the backbone's deepest
feature map (what ImageNet classifiers pool) carries far more signal. With
``build_mask_rcnn(..., classifier="pooled")`` the model becomes a
:class:`LesionMaskRCNN`: in training its loss dict gains ``loss_lesion_class``
(cross-entropy of the image's lesion label), and in eval mode each output dict gains
``class_scores``, a ``(num_classes,)`` float tensor of probabilities indexed by label
(entry 0, the background, is 0). :mod:`isicseg.inference` takes category probabilities
from ``class_scores`` when they are present.

Three heads come with isicseg:

* ``"pooled"`` (:class:`PooledClassifier`): average-pooled deepest map of the detector's
  own backbone, a linear layer trained by the optimiser with the detector.
* ``"lesion_crop"`` (:class:`LesionCropClassifier`): a frozen ImageNet MobileNetV2 looks at
  the lesion crop and at the whole image; a logistic regression on its pooled features
  is fitted in closed form after each training epoch. On real ISIC images this scores
  melanoma far better than a head trained by the detector's optimiser (see the guide
  *Training on real data*).
* ``"lesion_crop_tuned"``: the same head with the last blocks of its MobileNetV2 and a
  linear read-out fine-tuned by the detector's optimiser on every labelled lesion it is
  shown (``loss_lesion_class``) instead of a regression on frozen features.

Heads are registered in :data:`HEADS` (entry-point group ``isicseg.heads``): a factory
``factory(in_channels, num_classes)`` returning an ``nn.Module`` that follows
:class:`LesionHead`, the calling convention written as a :class:`typing.Protocol` (with
the optional attributes a head may have); :func:`attach_classifier` checks a head against
it when the model is built.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN

from .._numbers import check_number
from ..exceptions import ConfigError
from ..registry import Registry

__all__ = [
    "HEADS",
    "LesionHead",
    "PooledClassifier",
    "LesionCropClassifier",
    "LesionMaskRCNN",
    "attach_classifier",
    "list_heads",
    "fit_logistic",
]


@runtime_checkable
class LesionHead(Protocol):
    """How :class:`LesionMaskRCNN` calls its lesion classifier head (an ``nn.Module``).

    The head gets the backbone body's feature dict, the batch tensor the detector saw,
    each image's ``(height, width)`` in it, and one lesion box per image in its
    coordinates (the first ground-truth box in training, the top detection in eval;
    ``None`` without one), and in training the images' labels minus one (``-1``: no
    lesion). It returns ``(batch, num_classes - 1)`` logits for the foreground labels
    1, 2, ... A returned tensor that does not require grad adds no loss (a head fitted in
    closed form).

    A head may also have (read with ``getattr``, so every one is optional):

    * ``init_weights(download)``: called when the model starts from scratch, COCO or
      ImageNet weights, not when a trained model is loaded;
    * ``collected_samples()`` and ``fit_samples(samples)``: a head fitted in closed form
      after each training epoch, the :class:`~isicseg.engine.fitting.ClosedFormFit`
      protocol (the Trainer gathers the samples of every process);
    * ``reads_features = False``: it ignores ``features``, so :meth:`LesionMaskRCNN.classify`
      need not compute them;
    * ``mirror_invariant = True``: its answer for a mirrored image and box is the same,
      so with ``tta=True`` :func:`~isicseg.inference.detect` runs it once, on the fused
      box, instead of on each view.
    """

    def __call__(
        self,
        features: dict[str, Tensor],
        *,
        images: Tensor,
        image_sizes: list[tuple[int, int]],
        boxes: list[Tensor | None],
        labels: Tensor | None = None,
    ) -> Tensor: ...


HEADS: Registry[Callable[[int, int], LesionHead]] = Registry("heads")
"""Lesion classifier heads by name, each a factory ``(in_channels, num_classes) -> nn.Module``
following :class:`LesionHead`; plugins use the ``isicseg.heads`` entry-point group."""

_HEAD_KEYWORDS = ("images", "image_sizes", "boxes", "labels")


def _check_head(name: str, head: object) -> nn.Module:
    """Refuse a head that is not a module, or whose ``forward`` does not take :class:`LesionHead`'s arguments."""
    if not isinstance(head, nn.Module):
        raise ConfigError(
            f"Head {name!r}: its factory returned {type(head).__name__}, not an nn.Module; a head is a module "
            "called as head(features, images=..., image_sizes=..., boxes=..., labels=...) "
            "(isicseg.models.heads.LesionHead)."
        )
    try:
        inspect.signature(head.forward).bind({}, **dict.fromkeys(_HEAD_KEYWORDS))
    except TypeError as error:
        raise ConfigError(
            f"Head {name!r}: {type(head).__name__}.forward cannot be called as forward(features, "
            f"{', '.join(k + '=...' for k in _HEAD_KEYWORDS)}) ({error}); give it those keyword arguments, "
            f"or **kwargs (isicseg.models.heads.LesionHead)."
        ) from None
    return head


@HEADS.register("pooled")
class PooledClassifier(nn.Module):
    """Global average pooling of the deepest feature map, dropout, then a linear layer.

    Args:
        in_channels: Channels of the deepest feature map.
        num_classes: Classes **including the background**; the head predicts the others.
        dropout: Dropout probability before the linear layer.

    Example:
        >>> head = PooledClassifier(8, 3)
        >>> head({"0": torch.rand(2, 4, 16, 16), "1": torch.rand(2, 8, 4, 4)}).shape
        torch.Size([2, 2])
    """

    def __init__(self, in_channels: int, num_classes: int, *, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes - 1)

    def forward(self, features: dict[str, Tensor], **_: object) -> Tensor:
        """Logits ``(batch, num_classes - 1)`` from the last entry of ``features``."""
        deepest = list(features.values())[-1]
        return self.fc(self.dropout(deepest.float().mean(dim=(-2, -1))))


def _deepest_channels(model: MaskRCNN) -> int:
    """Channels of the deepest map of the backbone body (found with a tiny forward pass)."""
    body = getattr(model.backbone, "body", model.backbone)
    was_training = body.training
    body.eval()  # a dummy pass must not move BatchNorm statistics
    try:
        with torch.no_grad():
            device = next(body.parameters()).device
            out = body(torch.zeros(1, 3, 64, 64, device=device))
    finally:
        body.train(was_training)
    return int(list(out.values())[-1].shape[1])


class LesionMaskRCNN(MaskRCNN):
    """A :class:`~torchvision.models.detection.MaskRCNN` with an image-level lesion classifier.

    Same inputs, outputs and state-dict keys as Mask R-CNN, plus ``classifier.*``.
    Build it with :func:`~isicseg.build_mask_rcnn` (``classifier=...``) or
    :func:`attach_classifier`.

    Attributes:
        classifier: The head (a :class:`LesionHead`, see :data:`HEADS`).
        classifier_loss_weight: Factor of ``loss_lesion_class`` in the training loss.
    """

    classifier: nn.Module  # a LesionHead
    classifier_loss_weight: float

    def _backbone(self, tensors: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The backbone body's feature dict (what the head reads) and the detector's features."""
        if hasattr(self.backbone, "body") and hasattr(self.backbone, "fpn"):
            body = self.backbone.body(tensors)
            features = self.backbone.fpn(body)
        else:  # a plugin backbone without torchvision's body/fpn split: classify its own maps
            body = features = self.backbone(tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        return (body if isinstance(body, dict) else {"0": body}), features

    @staticmethod
    def _class_scores(logits: Tensor) -> list[Tensor]:
        """Per image, ``(num_classes,)`` probabilities indexed by label (the background's is 0)."""
        probabilities = logits.float().softmax(dim=-1)
        return [torch.cat([p.new_zeros(1), p]) for p in probabilities]

    def forward(  # type: ignore[override]
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None, *, classify: bool = True
    ):
        """Mask R-CNN's forward pass, with the classifier reading the backbone body's features.

        With ``classify=False`` (eval mode only) the head is not run and the outputs have no
        ``class_scores`` (:func:`~isicseg.inference.detect` then calls :meth:`classify` once
        on the boxes it fused).
        """
        if self.training and targets is None:
            raise ConfigError(
                "In training mode the model needs targets (one dict of boxes, labels and masks per image); got "
                "targets=None."
            )
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        image_list, targets = self.transform(images, targets)
        body, features = self._backbone(image_list.tensors)
        proposals, proposal_losses = self.rpn(image_list, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        sizes = [(int(h), int(w)) for h, w in image_list.image_sizes]
        if self.training:
            # one lesion per ISIC image: its label and box; an image without an instance, or whose target
            # says train_classifier=False (a source that trains the detector only), is ignored
            boxes = [t["boxes"][0] if len(t["boxes"]) else None for t in targets]
            labels = torch.stack(
                [
                    t["labels"][0] - 1
                    if len(t["labels"]) and bool(t.get("train_classifier", True))
                    else t["labels"].new_tensor(-1)
                    for t in targets
                ]
            )
            logits = self.classifier(body, images=image_list.tensors, image_sizes=sizes, boxes=boxes, labels=labels)
            losses = {**proposal_losses, **detector_losses}
            if logits.requires_grad:  # a head fitted in closed form adds no loss
                loss = (
                    F.cross_entropy(logits.float(), labels, ignore_index=-1)
                    if bool((labels >= 0).any())
                    else logits.sum() * 0
                )
                losses["loss_lesion_class"] = loss * self.classifier_loss_weight
            return losses
        top = [d["boxes"][0] if len(d["boxes"]) else None for d in detections]  # sorted by score
        scores = (
            self._class_scores(
                self.classifier(body, images=image_list.tensors, image_sizes=sizes, boxes=top, labels=None)
            )
            if classify
            else None
        )
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        for detection, probabilities in zip(detections, scores or ()):
            detection["class_scores"] = probabilities
        return detections

    def classify(self, images: list[Tensor], boxes: list[Tensor | None]) -> list[Tensor]:
        """Class probabilities ``(num_classes,)`` per image for given lesion boxes (eval mode).

        Args:
            images: ``(3, H, W)`` images, as for :meth:`forward`.
            boxes: One ``(x1, y1, x2, y2)`` lesion box per image in that image's
                coordinates, or ``None`` (the head then reads the whole image).

        Returns:
            What :meth:`forward` puts under ``class_scores``.
        """
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        image_list, _ = self.transform(images)
        sizes = [(int(h), int(w)) for h, w in image_list.image_sizes]
        scaled = [
            None if box is None else box.float() * torch.tensor([w / ow, h / oh, w / ow, h / oh], device=box.device)
            for box, (h, w), (oh, ow) in zip(boxes, sizes, original_sizes)
        ]
        body = self._backbone(image_list.tensors)[0] if getattr(self.classifier, "reads_features", True) else {}
        return self._class_scores(
            self.classifier(body, images=image_list.tensors, image_sizes=sizes, boxes=scaled, labels=None)
        )


def attach_classifier(model: MaskRCNN, head: str, *, loss_weight: float = 1.0) -> LesionMaskRCNN:
    """Give a Mask R-CNN a registered lesion classifier head, in place.

    The model's class becomes :class:`LesionMaskRCNN` (a subclass that only changes
    ``forward``), so every attribute and state-dict key of the detector stays as it was.

    Args:
        model: A torchvision Mask R-CNN (its ``backbone`` may be any plugin's).
        head: Name of a head in :data:`HEADS`.
        loss_weight: Factor of the classifier's loss in the training loss.

    Returns:
        The same object, now a :class:`LesionMaskRCNN`.

    Example:
        >>> from isicseg import build_mask_rcnn
        >>> model = attach_classifier(build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=64), "pooled")
        >>> _ = model.eval()
        >>> model([torch.rand(3, 64, 64)])[0]["class_scores"].shape
        torch.Size([3])
    """
    check_number(loss_weight, "loss_weight", low=0, where="attach_classifier: ")
    num_classes = model.roi_heads.box_predictor.cls_score.out_features
    classifier = _check_head(head, HEADS.get(head)(_deepest_channels(model), num_classes))
    model.__class__ = LesionMaskRCNN
    model.classifier = classifier.to(next(model.parameters()).device)
    model.classifier_loss_weight = float(loss_weight)
    return model  # type: ignore[return-value]


def list_heads() -> list[str]:
    """Names of the registered classifier heads.

    Example:
        >>> "pooled" in list_heads()
        True
    """
    return HEADS.names()


from . import classifier as _classifier  # noqa: E402, F401  (registers "lesion_classifier" in HEADS)
from .lesion_crop import LesionCropClassifier, fit_logistic  # noqa: E402  (registers "lesion_crop" in HEADS)
