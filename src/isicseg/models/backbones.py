"""Backbones for Mask R-CNN, in a registry users and plugins can extend.

A :class:`BackboneSpec` knows how to build a whole
:class:`~torchvision.models.detection.MaskRCNN` around its feature extractor, given the
normalisation layer to use, and which COCO weights (if any) fit it. Register your own
with ``BACKBONES.register("name", BackboneSpec(...))`` or through the entry-point group
``isicseg.backbones``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from math import gcd

from torch import nn
from torchvision.models import (
    MobileNet_V2_Weights,
    MobileNet_V3_Large_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    WeightsEnum,
    resnet18,
    resnet50,
)
from torchvision.models.detection import MaskRCNN, MaskRCNN_ResNet50_FPN_V2_Weights, MaskRCNN_ResNet50_FPN_Weights
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor, mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
from torchvision.models.detection.rpn import RPNHead

from ..registry import Registry

__all__ = ["BackboneSpec", "BACKBONES", "group_norm", "list_backbones"]

NormLayer = Callable[[int], nn.Module]


def group_norm(num_channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides the channels.

    Example:
        >>> group_norm(256).num_groups, group_norm(72).num_groups, group_norm(16).num_groups
        (32, 8, 16)
    """
    return nn.GroupNorm(gcd(max_groups, num_channels), num_channels)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build a Mask R-CNN with one backbone.

    Args:
        build: ``build(num_classes, *, norm_layer, head_norm_layer, trainable_layers,
            **model_kwargs)`` returning a :class:`~torchvision.models.detection.MaskRCNN`.
            ``norm_layer`` (for the backbone) and ``head_norm_layer`` (for FPN and heads,
            where the architecture normalises them) are factories ``channels -> module``;
            ``model_kwargs`` go to ``MaskRCNN`` (``min_size``, ``max_size``, ...).
        coco_weights: torchvision weights enum with COCO weights for exactly this
            architecture, or ``None``.
        max_trainable_layers: Largest accepted ``trainable_layers``.
        description: One line for listings.
        imagenet_weights: torchvision weights enum of the ImageNet classifier whose
            feature extractor is the backbone's body, or ``None``.
        imagenet_prefix: Prefix of the body's keys in that classifier's state dict
            (``"features."`` for MobileNets, ``""`` for ResNets); keys outside it (the
            classifier layers) are not loaded.
    """

    build: Callable[..., MaskRCNN]
    coco_weights: WeightsEnum | None = None
    max_trainable_layers: int = 5
    description: str = ""
    imagenet_weights: WeightsEnum | None = None
    imagenet_prefix: str = ""


BACKBONES: Registry[BackboneSpec] = Registry("backbones")
"""Backbone specifications by name; plugins use the ``isicseg.backbones`` entry-point group."""


def _resnet_fpn(
    arch: Callable[..., nn.Module],
    num_classes: int,
    *,
    norm_layer: NormLayer,
    head_norm_layer: NormLayer,
    trainable_layers: int,
    **kwargs,
) -> MaskRCNN:
    backbone = _resnet_fpn_extractor(arch(weights=None, norm_layer=norm_layer), trainable_layers)
    return MaskRCNN(backbone, num_classes, **kwargs)


def _resnet50_fpn_v2(
    num_classes: int, *, norm_layer: NormLayer, head_norm_layer: NormLayer, trainable_layers: int, **kwargs
) -> MaskRCNN:
    # Same architecture as torchvision's maskrcnn_resnet50_fpn_v2 (Li et al., 2021), with
    # the normalisation of backbone and heads chosen by the caller.
    head_norm = head_norm_layer
    backbone = _resnet_fpn_extractor(
        resnet50(weights=None, norm_layer=norm_layer), trainable_layers, norm_layer=head_norm
    )
    anchors = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    return MaskRCNN(
        backbone,
        num_classes,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0], conv_depth=2),
        box_head=FastRCNNConvFCHead((backbone.out_channels, 7, 7), [256, 256, 256, 256], [1024], norm_layer=head_norm),
        mask_head=MaskRCNNHeads(backbone.out_channels, [256, 256, 256, 256], 1, norm_layer=head_norm),
        **kwargs,
    )


def _mobilenet_fpn(
    name: str, num_classes: int, *, norm_layer: NormLayer, head_norm_layer: NormLayer, trainable_layers: int, **kwargs
) -> MaskRCNN:
    # torchvision's mobilenet_backbone(fpn=True): the last two stages (stride 32) plus a
    # max-pooled level, i.e. 3 feature maps, each given every anchor size.
    backbone = mobilenet_backbone(
        backbone_name=name, weights=None, fpn=True, norm_layer=norm_layer, trainable_layers=trainable_layers
    )
    anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    return MaskRCNN(backbone, num_classes, rpn_anchor_generator=anchors, **kwargs)


BACKBONES.register(
    "resnet50_fpn",
    BackboneSpec(
        partial(_resnet_fpn, resnet50),
        MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
        description="ResNet-50 + FPN, as torchvision's maskrcnn_resnet50_fpn (He et al., 2017); COCO weights.",
        imagenet_weights=ResNet50_Weights.IMAGENET1K_V1,
    ),
)
BACKBONES.register(
    "resnet50_fpn_v2",
    BackboneSpec(
        _resnet50_fpn_v2,
        MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        description="ResNet-50 + FPN with normalised heads, as maskrcnn_resnet50_fpn_v2; COCO weights.",
        imagenet_weights=ResNet50_Weights.IMAGENET1K_V2,
    ),
)
BACKBONES.register(
    "resnet18_fpn",
    BackboneSpec(
        partial(_resnet_fpn, resnet18),
        description="ResNet-18 + FPN: light, for CPU work and tests; ImageNet weights, no COCO weights.",
        imagenet_weights=ResNet18_Weights.IMAGENET1K_V1,
    ),
)
BACKBONES.register(
    "mobilenet_v3_large_fpn",
    BackboneSpec(
        partial(_mobilenet_fpn, "mobilenet_v3_large"),
        max_trainable_layers=6,
        description="MobileNetV3-Large + FPN: fastest on CPU; ImageNet weights, no COCO weights.",
        imagenet_weights=MobileNet_V3_Large_Weights.IMAGENET1K_V1,
        imagenet_prefix="features.",
    ),
)
BACKBONES.register(
    "mobilenet_v2_fpn",
    BackboneSpec(
        partial(_mobilenet_fpn, "mobilenet_v2"),
        max_trainable_layers=6,
        description="MobileNetV2 + FPN (3 feature maps): light; ImageNet weights, no COCO weights.",
        imagenet_weights=MobileNet_V2_Weights.IMAGENET1K_V1,
        imagenet_prefix="features.",
    ),
)


def list_backbones() -> list[str]:
    """Names of the registered backbones.

    Example:
        >>> "resnet50_fpn" in list_backbones()
        True
    """
    return BACKBONES.names()
