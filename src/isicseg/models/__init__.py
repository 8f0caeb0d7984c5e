"""Mask R-CNN models: the factory, the backbone registry and weight loading."""

from ..identity import ModelIdentity as ModelIdentity
from .backbones import BACKBONES as BACKBONES
from .backbones import BackboneSpec as BackboneSpec
from .backbones import list_backbones as list_backbones
from .factory import FEW_PROPOSALS as FEW_PROPOSALS
from .factory import build_mask_rcnn as build_mask_rcnn
from .factory import load_model as load_model
from .weights import cached_weights_path as cached_weights_path

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "FEW_PROPOSALS",
    "ModelIdentity",
    "build_mask_rcnn",
    "cached_weights_path",
    "list_backbones",
    "load_model",
]
