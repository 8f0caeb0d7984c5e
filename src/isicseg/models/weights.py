"""Finding torchvision's weights: its COCO and ImageNet files, in its cache or downloaded there.

torchvision's weights (COCO detectors, ImageNet backbones) are looked up where torchvision keeps them,
``$TORCH_HOME/hub/checkpoints/<file>`` (``~/.cache/torch`` by default), and downloaded
there when that is allowed and possible. Every file (these, local files, isicseg checkpoints)
is read by :func:`isicseg.read_checkpoint` with ``weights_only=True``, so no weight file can run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.models import WeightsEnum

from ..checkpoint import read_checkpoint
from ..exceptions import WeightsNotFoundError

__all__ = ["cached_weights_path", "load_coco_state_dict", "load_torchvision_state_dict"]


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torchvision caches a weights enum's file (honours ``TORCH_HOME``).

    Example:
        >>> from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
        >>> cached_weights_path(MaskRCNN_ResNet50_FPN_Weights.COCO_V1).name
        'maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth'
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _download(weights: WeightsEnum, path: Path) -> None:
    """Download a weights file into torchvision's cache (tests replace this)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(weights.url, str(path), progress=True)


def load_torchvision_state_dict(weights: WeightsEnum, *, download: bool = True) -> dict[str, torch.Tensor]:
    """Load one of torchvision's weight files from the cache, downloading it if needed and allowed.

    Args:
        weights: A torchvision weights enum member, e.g. ``MobileNet_V2_Weights.IMAGENET1K_V1``.
        download: Try to download the file when it is not cached.

    Raises:
        WeightsNotFoundError: When the file is not cached and cannot be downloaded; the
            message says which file to put where and how to train without it.

    Example:
        >>> from torchvision.models import MobileNet_V2_Weights
        >>> getfixture("monkeypatch").setenv("TORCH_HOME", str(getfixture("tmp_path")))
        >>> load_torchvision_state_dict(MobileNet_V2_Weights.IMAGENET1K_V1, download=False)
        Traceback (most recent call last):
        ...
        isicseg.exceptions.WeightsNotFoundError: ImageNet weights mobilenet_v2-b0353104.pth are not in ...
    """
    path = cached_weights_path(weights)
    what = "COCO weights" if "COCO" in weights.name else "ImageNet weights" if "IMAGENET" in weights.name else "Weights"
    if not path.is_file():
        reason = "downloading is switched off (download=False)"
        if download:
            try:
                _download(weights, path)
            except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError
                reason = f"the download failed: {type(error).__name__}: {error}"
        if not path.is_file():
            raise WeightsNotFoundError(
                f"{what} {path.name} are not in torchvision's cache {path.parent} and {reason}. "
                f"On a machine with internet, get {weights.url} and copy it to {path} "
                f"(or set TORCH_HOME to a folder whose hub/checkpoints/ holds it), or pass "
                f"the file's path instead. To train without pretraining, pass pretrained=False "
                f"(isicseg then uses GroupNorm so that small batches train well)."
            )
    return read_checkpoint(path).weights


def load_coco_state_dict(weights: WeightsEnum, *, download: bool = True) -> dict[str, torch.Tensor]:
    """Load a torchvision COCO state dict (see :func:`load_torchvision_state_dict`).

    Raises:
        WeightsNotFoundError: When the file is not cached and cannot be downloaded.
    """
    return load_torchvision_state_dict(weights, download=download)
