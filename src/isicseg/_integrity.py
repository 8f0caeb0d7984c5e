"""A checksum of a model's weights, stored in every checkpoint isicseg writes and checked on load.

``torch.load`` does not notice flipped bytes inside a tensor's data: a damaged file loads
and gives other answers. SHA-256 over every tensor's name, dtype, shape and bytes, in key
order, catches it (about 1 s for a ResNet-50 Mask R-CNN on one core).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch

from .exceptions import WeightsError

__all__ = ["DIGEST_KEY", "check_weights_digest", "weights_digest"]

DIGEST_KEY = "model_sha256"
"""The checkpoint entry that holds :func:`weights_digest` of its ``model`` entry."""


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of a state dict's tensors: names, dtypes, shapes and bytes, in key order.

    Example:
        >>> a = {"w": torch.zeros(2)}
        >>> weights_digest(a) == weights_digest({"w": torch.zeros(2)}) != weights_digest({"w": torch.ones(2)})
        True
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def check_weights_digest(checkpoint: Mapping, path: str | Path) -> None:
    """Refuse a checkpoint whose ``model`` weights do not match the digest stored with them.

    Files without a digest (state dicts, checkpoints of other tools) are not checked.
    """
    expected = checkpoint.get(DIGEST_KEY) if isinstance(checkpoint, Mapping) else None
    model = checkpoint.get("model") if expected is not None else None
    if not isinstance(model, Mapping) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        return  # nothing to check, or not weights at all (the caller refuses that)
    actual = weights_digest(checkpoint["model"])
    if actual != expected:
        raise WeightsError(
            f"Checkpoint {path} is damaged: its weights have SHA-256 {actual[:16]}..., but {expected[:16]}... was "
            "stored "
            "when it was written (flipped bytes on disk or in a copy). Use another copy of the file, or "
            "last.pt/best.pt of the run."
        )
