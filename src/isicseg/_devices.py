"""Which devices isicseg runs on, checked before any work starts."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch

from .exceptions import ConfigError

__all__ = [
    "DEVICE_TYPES",
    "PRECISIONS",
    "Precision",
    "autocast",
    "check_precision",
    "is_device_name",
    "resolve_device",
    "resolve_precision",
]

Precision = Literal["auto", "bf16", "fp16", "fp32"]
"""The one precision vocabulary of training and inference (see :func:`resolve_precision`)."""

PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp16", "fp32")
"""The precisions isicseg trains and answers in: ``"auto"`` (bf16 on a CUDA GPU that supports
it, else fp16 there; fp32 on any other device), ``"bf16"`` (also on CPU), ``"fp16"`` (CUDA
only) or ``"fp32"``. Below fp32 the model runs under :func:`torch.autocast`; answers are
converted back to float32."""

DEVICE_TYPES = ("cpu", "cuda", "mps")
"""Device types isicseg trains and predicts on (``meta``, ``xpu`` ... are refused)."""

_ALLOWED = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def is_device_name(text: object) -> bool:
    """Whether ``text`` names a device of :data:`DEVICE_TYPES` (or is ``"auto"``), present here or not."""
    if text == "auto":
        return True
    try:
        return torch.device(text).type in DEVICE_TYPES  # type: ignore[arg-type]
    except (RuntimeError, ValueError, TypeError):
        return False


def resolve_device(choice: str | torch.device | None, *, auto_index: int = 0) -> torch.device:
    """The :class:`torch.device` for ``choice``, refusing one this machine does not have.

    ``"auto"`` (and ``None``) is CUDA device ``auto_index`` when CUDA is available, else the CPU.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("gpu")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: device 'gpu' is not a device name; allowed: 'auto', 'cpu', 'cuda', 'cuda:N' ...
    """
    if choice is None or choice == "auto":
        return torch.device("cuda", auto_index) if torch.cuda.is_available() else torch.device("cpu")
    if not is_device_name(choice):
        raise ConfigError(f"device {choice!r} is not a device name; allowed: {_ALLOWED}.")
    device = torch.device(choice)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {str(choice)!r} was asked for, but CUDA is not available on this machine; use 'cpu' or 'auto'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {str(choice)!r} was asked for, but this machine has {torch.cuda.device_count()} CUDA "
                f"devices (0..{torch.cuda.device_count() - 1})."
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"device {str(choice)!r} was asked for, but MPS is not available on this machine; use 'cpu' or 'auto'."
        )
    return device


def check_precision(precision: object) -> None:
    """Refuse a precision that is not one of :data:`PRECISIONS`.

    Example:
        >>> check_precision("half")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: precision must be one of 'auto', 'bf16', 'fp16', 'fp32'; got 'half'.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}.")


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a model runs in on ``device``: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    ``"auto"`` is bf16 on a CUDA GPU that supports it, fp16 on other CUDA GPUs and fp32
    elsewhere (bf16 was not measured faster on CPU for every backbone; ask for it).

    Example:
        >>> resolve_precision("auto", torch.device("cpu")), resolve_precision("bf16", torch.device("cpu"))
        ('fp32', 'bf16')
    """
    check_precision(precision)
    if device.type != "cuda":
        if precision == "fp16":
            raise ConfigError(
                f"precision 'fp16' needs a CUDA device; got device {str(device)!r}. On it use 'bf16' or 'fp32'."
            )
        return "bf16" if precision == "bf16" else "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context of a precision resolved by :func:`resolve_precision` (none for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
