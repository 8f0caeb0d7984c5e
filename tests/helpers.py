"""Small models and data for engine tests."""

from __future__ import annotations

import torch

from isicseg import build_mask_rcnn
from isicseg.models import FEW_PROPOSALS


def tiny_model(num_classes: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_mask_rcnn(num_classes, backbone="resnet18_fpn", min_size=64, max_size=86, **FEW_PROPOSALS)
