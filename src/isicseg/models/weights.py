"""Finding and loading weights: torchvision's COCO and ImageNet files, local files and isicseg checkpoints.

torchvision's weights (COCO detectors, ImageNet backbones) are looked up where torchvision keeps them,
``$TORCH_HOME/hub/checkpoints/<file>`` (``~/.cache/torch`` by default), and downloaded
there when that is allowed and possible. Every file is read with
``torch.load(..., weights_only=True)``, so no weight file can run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torchvision.models import WeightsEnum

from .._integrity import check_weights_digest
from ..exceptions import WeightsError, WeightsNotFoundError

__all__ = ["cached_weights_path", "load_coco_state_dict", "load_torchvision_state_dict", "load_weight_file"]


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
        isicseg.exceptions.WeightsNotFoundError: ImageNet weights mobilenet_v2-b0353104.pth are not in torchvision's cache ...
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
    state, _ = load_weight_file(path)
    return state


def load_coco_state_dict(weights: WeightsEnum, *, download: bool = True) -> dict[str, torch.Tensor]:
    """Load a torchvision COCO state dict (see :func:`load_torchvision_state_dict`).

    Raises:
        WeightsNotFoundError: When the file is not cached and cannot be downloaded.
    """
    return load_torchvision_state_dict(weights, download=download)


def load_weight_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a state dict or an isicseg checkpoint from disk.

    Returns:
        ``(state_dict, model_config)``; ``model_config`` holds the arguments the model
        was built with when the file is an isicseg checkpoint, and is empty otherwise.

    Raises:
        WeightsNotFoundError: If the file does not exist.
        WeightsError: If it is not a weights-only PyTorch file, holds no state dict, or is
            an isicseg checkpoint whose weights do not match their stored checksum.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise WeightsError(
            f"Weight file {path} is a {'folder' if path.is_dir() else 'special file'}; expected a .pth state dict or an isicseg checkpoint (a file)."
        )
    if not path.is_file():
        raise WeightsNotFoundError(
            f"Weight file {path} does not exist; expected a .pth state dict or an isicseg checkpoint."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - text, HTML or a truncated file fail in many ways (KeyError, UnpicklingError ...)
        raise WeightsError(
            f"Weight file {path} could not be loaded with weights_only=True ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). isicseg only loads files that hold tensors "
            f"and plain containers, never pickled code."
        ) from None
    config: dict[str, Any] = {}
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        check_weights_digest(obj, path)
        config = dict(obj.get("model_config") or {})
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(
            f"Weight file {path} holds {type(obj).__name__}, not a state dict; expected a dict of tensors "
            f"or an isicseg checkpoint with a 'model' entry."
        )
    return obj, config
