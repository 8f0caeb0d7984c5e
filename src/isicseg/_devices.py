"""Which devices isicseg runs on, checked before any work starts."""

from __future__ import annotations

import torch

from .exceptions import ConfigError

__all__ = ["DEVICE_TYPES", "is_device_name", "resolve_device"]

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
        isicseg.exceptions.ConfigError: device 'gpu' is not a device name; allowed: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'.
    """
    if choice is None or choice == "auto":
        return torch.device("cuda", auto_index) if torch.cuda.is_available() else torch.device("cpu")
    if not is_device_name(choice):
        raise ConfigError(f"device {choice!r} is not a device name; allowed: {_ALLOWED}.")
    device = torch.device(choice)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(choice)!r} was asked for, but CUDA is not available on this machine; use 'cpu' or 'auto'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {str(choice)!r} was asked for, but this machine has {torch.cuda.device_count()} CUDA devices (0..{torch.cuda.device_count() - 1}).")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {str(choice)!r} was asked for, but MPS is not available on this machine; use 'cpu' or 'auto'.")
    return device
