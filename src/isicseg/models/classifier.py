"""A lesion classifier you train: an ImageNet network fine-tuned whole on a loose lesion crop and the whole image.

Published ISIC 2017 classifiers that reach melanoma AUC 0.85-0.88 fine-tune every layer of
an ImageNet network for many epochs on lesion images, with heavy augmentation and a
class-weighted loss; frozen ImageNet features with a linear read-out (the ``lesion_crop``
head) stay near 0.80. This module holds the parts of such a classifier:

* :class:`LesionClassifier`: ``model(views) -> logits`` for ``(batch, views, 3, S, S)``
  images in [0, 1] (a loose lesion crop and the whole image by default); one backbone,
  shared by the views, from :data:`CLASSIFIER_BACKBONES` (``mobilenet_v2``, ``resnet18``,
  ``resnet50``, ``efficientnet_b0``, or a plugin's), ImageNet weights through torchvision's
  weights API and the ``TORCH_HOME`` cache.
* :func:`lesion_views`: those views cut out of images by a box (the ground truth in
  training, jittered; the detector's answer box at inference), with optional shades-of-grey
  colour constancy.
* :mod:`isicseg.models.classifier_training` trains it with the :class:`~isicseg.Trainer` on
  any detection dataset (ISIC 2017, HAM10000), with its own optimiser, schedule, epochs and
  class-weighted loss, and validates it by AUC.
* :class:`TrainedLesionHead` (the ``lesion_classifier`` head of
  :func:`~isicseg.build_mask_rcnn`): the classifier behind the detector, reading its answer
  box, so that ``predict``, ``evaluate`` and validation answer with it. The detector's
  training leaves it untouched (frozen, eval mode); it is trained in its own stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.ops import roi_align

from .._numbers import check_number
from ..exceptions import ConfigError
from ..registry import Registry
from .heads import HEADS
from .weights import load_torchvision_state_dict

__all__ = [
    "CLASSIFIER_BACKBONES",
    "ClassifierBackbone",
    "LesionClassifier",
    "TrainedLesionHead",
    "lesion_views",
    "predict_proba",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ClassifierBackbone:
    """A torchvision ImageNet classifier used as the classifier's feature extractor.

    Attributes:
        network: Builds the torchvision model (random weights).
        weights: Its ImageNet weights enum member (``None``: none known).
        strip: Turns the built network into ``(module, dim)``: a module mapping ``(N, 3, S, S)``
            to pooled features ``(N, dim)``.
    """

    network: Callable[[], nn.Module]
    weights: Any
    strip: Callable[[nn.Module], tuple[nn.Module, int]]


CLASSIFIER_BACKBONES: Registry[ClassifierBackbone] = Registry("classifier_backbones")
"""Backbones of :class:`LesionClassifier` by name; plugins use the ``isicseg.classifier_backbones`` entry points."""


def _pooled(features: nn.Module, dim: int) -> tuple[nn.Module, int]:
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1)), dim


def _without_fc(network: nn.Module) -> tuple[nn.Module, int]:
    dim = network.fc.in_features
    network.fc = nn.Identity()
    return network, dim


CLASSIFIER_BACKBONES.register(
    "mobilenet_v2",
    ClassifierBackbone(tvm.mobilenet_v2, tvm.MobileNet_V2_Weights.IMAGENET1K_V1, lambda n: _pooled(n.features, 1280)),
)
CLASSIFIER_BACKBONES.register(
    "efficientnet_b0",
    ClassifierBackbone(
        tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1, lambda n: _pooled(n.features, 1280)
    ),
)
CLASSIFIER_BACKBONES.register(
    "resnet18", ClassifierBackbone(tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1, _without_fc)
)
CLASSIFIER_BACKBONES.register(
    "resnet50", ClassifierBackbone(tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2, _without_fc)
)


class LesionClassifier(nn.Module):
    """An ImageNet network, fine-tuned whole, that classifies a lesion from several views of it.

    Args:
        num_outputs: Logits per lesion: the foreground classes of a label scheme
            (``num_classes - 1``: 2 for ``binary``, 3 for ``three_class``).
        backbone: A name from :data:`CLASSIFIER_BACKBONES`.
        weights: ``"imagenet"`` (torchvision's file, from the ``TORCH_HOME`` cache or
            downloaded when ``download``), or ``None`` for random weights.
        views: Views per lesion (2: the loose lesion crop and the whole image); their
            pooled features are concatenated before the linear read-out.
        dropout: Dropout before the read-out, in [0, 1).
        download: Allow downloading the ImageNet file.

    Example:
        >>> model = LesionClassifier(3, weights=None).eval()
        >>> model(torch.rand(4, 2, 3, 64, 64)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        num_outputs: int,
        *,
        backbone: str = "mobilenet_v2",
        weights: str | None = "imagenet",
        views: int = 2,
        dropout: float = 0.2,
        download: bool = True,
    ) -> None:
        super().__init__()
        check_number(num_outputs, "num_outputs", low=1, integer=True, where="LesionClassifier: ")
        check_number(views, "views", low=1, high=8, integer=True, where="LesionClassifier: ")
        check_number(dropout, "dropout", low=0, high=1, high_open=True, where="LesionClassifier: ")
        if weights not in ("imagenet", None, "none"):
            raise ConfigError(f"LesionClassifier: weights must be 'imagenet' or None; got {weights!r}.")
        spec = CLASSIFIER_BACKBONES.get(backbone)
        network = spec.network()
        if weights == "imagenet":
            if spec.weights is None:
                raise ConfigError(
                    f"LesionClassifier: backbone {backbone!r} has no ImageNet weights; pass weights=None."
                )
            network.load_state_dict(load_torchvision_state_dict(spec.weights, download=download))
        self.body, dim = spec.strip(network)
        self.backbone_name, self.views, self.num_outputs = backbone, int(views), int(num_outputs)
        self.dropout = nn.Dropout(float(dropout))
        self.linear = nn.Linear(dim * self.views, self.num_outputs)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def config(self) -> dict[str, Any]:
        """The arguments that rebuild this model's shape (stored beside its weights)."""
        return {
            "num_outputs": self.num_outputs,
            "backbone": self.backbone_name,
            "views": self.views,
            "dropout": self.dropout.p,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(batch, num_outputs)`` of ``(batch, views, 3, S, S)`` images in [0, 1]."""
        if x.dim() != 5 or x.shape[1] != self.views or x.shape[2] != 3:
            raise ConfigError(
                f"LesionClassifier takes (batch, {self.views}, 3, S, S) images in [0, 1]; got shape {tuple(x.shape)}."
            )
        batch = x.shape[0]
        flat = (x.flatten(0, 1) - self.mean) / self.std
        if _channels_last(self.body):
            flat = flat.contiguous(memory_format=torch.channels_last)  # as the weights are (Trainer's channels_last)
        features = self.body(flat).reshape(batch, -1)
        return self.linear(self.dropout(features))


def _channels_last(module: nn.Module) -> bool:
    weight = next((p for p in module.parameters() if p.dim() == 4), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and weight.shape[-1] > 1


def _dihedral(x: Tensor, k: int) -> Tensor:
    """The ``k``-th of the 8 dihedral views of the last two dimensions (0: itself)."""
    x = x.flip(-1) if k % 2 else x
    return torch.rot90(x, k // 2, dims=(-2, -1))


def predict_proba(classifier: nn.Module, x: Tensor, *, views: int = 1) -> Tensor:
    """Class probabilities ``(batch, num_outputs)``, averaged over the first ``views`` dihedral views (1, 2, 4, 8)."""
    if views not in (1, 2, 4, 8):
        raise ConfigError(f"views must be one of 1, 2, 4, 8; got {views!r}.")
    return sum(F.softmax(classifier(_dihedral(x, k)).float(), dim=1) for k in range(views)) / views


def _shades_of_grey(views: Tensor, power: float) -> Tensor:
    """Divide each lesion's illuminant (the ``power``-mean of its last, whole-image view) out of all its views."""
    whole = views[:, -1].clamp(min=1e-6)
    illuminant = whole.pow(power).mean(dim=(-2, -1)).pow(1 / power)
    illuminant = illuminant / illuminant.norm(dim=1, keepdim=True).clamp(min=1e-6) * 3**0.5
    return (views / illuminant[:, None, :, None, None]).clamp(0, 1)


def lesion_views(
    images: Tensor,
    boxes: Sequence[Tensor | None],
    *,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    size: int = 160,
    margin: float = 0.15,
    jitter: float = 0.0,
    color_power: float = 6.0,
) -> Tensor:
    """``(batch, 2, 3, size, size)``: each image's loose lesion crop and its whole image, in [0, 1].

    Args:
        images: ``(batch, 3, H, W)`` images in [0, 1] (a padded batch: see ``image_sizes``).
        boxes: One ``(x1, y1, x2, y2)`` box per image, or ``None`` (the crop is then the whole image).
        image_sizes: ``(height, width)`` of each image inside the batch (default: the batch's).
        size: Side of each view.
        margin: Added around the box on each side, as a fraction of its size.
        jitter: Each box side moves by up to this fraction of the box size (training).
        color_power: ``p`` of the shades-of-grey colour constancy (0: off).

    Example:
        >>> lesion_views(torch.rand(2, 3, 60, 80), [torch.tensor([10.0, 10, 30, 40]), None], size=32).shape
        torch.Size([2, 2, 3, 32, 32])
    """
    batch = images.shape[0]
    sizes = image_sizes or [tuple(images.shape[-2:])] * batch
    rows = []
    for index, ((height, width), box) in enumerate(zip(sizes, boxes)):
        whole = images.new_tensor([0.0, 0.0, float(width), float(height)])
        crop = whole
        if box is not None:
            box = box.detach().to(images.device, torch.float32).reshape(4)
            extent = (box[2:] - box[:2]).clamp(min=1.0).repeat(2)
            if jitter > 0:
                box = box + (torch.rand(4, device=images.device) * 2 - 1) * jitter * extent
            grown = box + images.new_tensor([-1.0, -1.0, 1.0, 1.0]) * margin * extent
            crop = torch.minimum(torch.maximum(grown, whole.new_zeros(4)), whole[[2, 3, 2, 3]])
            if bool((crop[2:] - crop[:2] < 2).any()):
                crop = whole  # a sliver: read the whole image
        rows += [torch.cat([crop.new_tensor([index]), crop]), torch.cat([whole.new_tensor([index]), whole])]
    views = roi_align(images.float(), torch.stack(rows), size, aligned=True, sampling_ratio=2)
    views = views.reshape(batch, 2, 3, size, size).clamp(0, 1)
    return _shades_of_grey(views, color_power) if color_power > 0 else views


class TrainedLesionHead(nn.Module):
    """A :class:`LesionClassifier` behind the detector (the ``lesion_classifier`` head of
    :func:`~isicseg.build_mask_rcnn`).

    It cuts :func:`lesion_views` out of the batch the detector saw (undoing its ImageNet
    normalisation), around the detector's answer box in eval mode, and answers with the
    classifier's logits. The detector's training never changes it: its parameters are
    frozen and it stays in eval mode (its logits then carry no gradient, so they add no
    loss); train it in its own stage
    (:class:`~isicseg.models.classifier_training.ClassifierTask` on a
    :class:`~isicseg.models.classifier_training.LesionCropDataset`), then :meth:`load_classifier`.

    Args:
        in_channels: Unused (the head has its own network); part of the ``HEADS`` signature.
        num_classes: Classes including the background.
        backbone, views_size, margin, color_power, eval_views: The classifier's backbone, the
            side of its views, the crop margin, the colour constancy and the dihedral views
            averaged in eval mode.
    """

    reads_features = False
    mirror_invariant = False

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        backbone: str = "mobilenet_v2",
        views_size: int = 160,
        margin: float = 0.15,
        color_power: float = 6.0,
        eval_views: int = 8,
    ) -> None:
        super().__init__()
        del in_channels
        if eval_views not in (1, 2, 4, 8):
            raise ConfigError(f"TrainedLesionHead: eval_views must be one of 1, 2, 4, 8; got {eval_views!r}.")
        self.classifier = LesionClassifier(num_classes - 1, backbone=backbone, weights=None)
        self.views_size, self.margin, self.color_power, self.eval_views = views_size, margin, color_power, eval_views
        self.classifier.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def init_weights(self, download: bool = True) -> None:
        """Start the classifier from its backbone's ImageNet weights (a model built from scratch, COCO or ImageNet)."""
        spec = CLASSIFIER_BACKBONES.get(self.classifier.backbone_name)
        network = spec.network()
        network.load_state_dict(load_torchvision_state_dict(spec.weights, download=download))
        self.classifier.body.load_state_dict(spec.strip(network)[0].state_dict())

    def train(self, mode: bool = True) -> TrainedLesionHead:
        """The detector's training leaves the classifier in eval mode (frozen BatchNorm statistics, no dropout)."""
        super().train(mode)
        self.classifier.eval()
        return self

    def load_classifier(self, classifier: LesionClassifier) -> None:
        """Take the weights of a classifier trained in its own stage (same backbone and outputs)."""
        self.classifier.load_state_dict(classifier.state_dict())

    def forward(
        self,
        features: dict[str, Tensor],
        *,
        images: Tensor,
        image_sizes: list[tuple[int, int]],
        boxes: list[Tensor | None],
        labels: Tensor | None = None,
    ) -> Tensor:
        """Logits ``(batch, num_classes - 1)`` (log-probabilities averaged over ``eval_views`` turns in eval mode)."""
        rgb = (images.float() * self.std + self.mean).clamp(0, 1)
        views = lesion_views(
            rgb, boxes, image_sizes=image_sizes, size=self.views_size, margin=self.margin, color_power=self.color_power
        )
        with torch.no_grad():
            if self.training:
                return self.classifier(views)
            return predict_proba(self.classifier, views, views=self.eval_views).clamp(min=1e-8).log()


HEADS.register("lesion_classifier", TrainedLesionHead)
