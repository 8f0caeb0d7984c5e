"""Reading weight files: the one reader of checkpoints and state dicts, returning a typed :class:`Checkpoint`.

Every file isicseg loads weights from (``last.pt``, ``best.pt``, a ``.pth`` state dict,
torchvision's cached downloads) is read by :func:`~isicseg.read_checkpoint`, once, with
``weights_only=True`` and its weights' checksum checked. Writing is
:func:`isicseg.engine.save_checkpoint`'s (atomic, with the checksum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._integrity import check_weights_digest
from .exceptions import WeightsError, WeightsNotFoundError
from .identity import ModelIdentity

__all__ = ["Checkpoint", "IDENTITY_KEY", "read_checkpoint"]

IDENTITY_KEY = "identity"
"""The checkpoint entry holding the model's :class:`~isicseg.models.ModelIdentity`
(:meth:`~isicseg.models.ModelIdentity.to_dict`)."""

_OLD_IDENTITY_KEY = "model_config"  # isicseg 0.2.0 wrote the identity under this key


@dataclass(frozen=True)
class Checkpoint:
    """What a weight file holds, read once by :func:`~isicseg.read_checkpoint`.

    Attributes:
        path: The file.
        weights: The model's state dict.
        identity: The model's identity when the file is an isicseg checkpoint that names
            it; ``None`` for a plain state dict.
        epoch: The last finished epoch (0-based) for a checkpoint the Trainer wrote.
        run_config: The :class:`~isicseg.config.RunConfig` (as a dict) of an ``isicseg train`` run.
        contents: Everything the file holds (optimizer, scheduler, sampler, callbacks, RNG
            states ... of a ``last.pt``), what the Trainer resumes from; for a plain state
            dict ``{"model": weights}``.

    Example:
        >>> import torch
        >>> from isicseg.engine import save_checkpoint
        >>> path = getfixture("tmp_path") / "w.pt"
        >>> _ = save_checkpoint({"model": {"w": torch.zeros(2)}, "epoch": 4}, path)
        >>> checkpoint = read_checkpoint(path)
        >>> list(checkpoint.weights), checkpoint.epoch, checkpoint.identity
        (['w'], 4, None)
    """

    path: Path
    weights: dict[str, torch.Tensor]
    identity: ModelIdentity | None = None
    epoch: int | None = None
    run_config: Mapping[str, Any] | None = None
    contents: Mapping[str, Any] = field(default_factory=dict, repr=False)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint isicseg wrote, or a plain state dict (a ``.pth`` file of tensors).

    The file is read with ``weights_only=True`` (never pickled code); a checkpoint's
    weights are checked against the SHA-256 stored when it was written. isicseg 0.2.0's
    checkpoints (identity under ``model_config``) are read too.

    Raises:
        WeightsNotFoundError: If the file does not exist.
        WeightsError: If it is a folder, cannot be read with ``weights_only=True``, holds no
            state dict, its weights do not match their checksum, or its identity is unreadable;
            each message names the file.
    """
    path = Path(path)
    expected = "expected a .pth state dict or an isicseg checkpoint (last.pt, best.pt)"
    if path.exists() and not path.is_file():
        kind = "folder" if path.is_dir() else "special file"
        raise WeightsError(f"Weight file {path} is a {kind}; {expected}, a file.")
    if not path.is_file():
        raise WeightsNotFoundError(f"Weight file {path} does not exist; {expected}.")
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - text, HTML or a truncated file fail in many ways
        first = str(error).splitlines()[0] if str(error) else ""
        raise WeightsError(
            f"Weight file {path} could not be loaded with weights_only=True ({type(error).__name__}: {first}). "
            f"isicseg only loads files that hold tensors and plain containers, never pickled code."
        ) from None
    if isinstance(stored, dict) and isinstance(stored.get("model"), dict):
        check_weights_digest(stored, path)
        contents = stored
    else:
        contents = {"model": stored}
    weights = contents["model"]
    if not isinstance(weights, dict) or not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise WeightsError(
            f"Weight file {path} holds {type(stored).__name__}, not a state dict; {expected} with a 'model' entry."
        )
    described = contents.get(IDENTITY_KEY) or contents.get(_OLD_IDENTITY_KEY)
    epoch = contents.get("epoch")
    return Checkpoint(
        path=path,
        weights=weights,
        identity=ModelIdentity.from_dict(described, source=str(path)) if described else None,
        epoch=int(epoch) if isinstance(epoch, int) else None,
        run_config=contents.get("run_config"),
        contents=contents,
    )
