from __future__ import annotations

import math
from typing import Literal

from ..exceptions import ConfigError

Mode = Literal["min", "max"]


def check_mode(mode: str) -> None:
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min' or 'max'; got {mode!r}.")


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def monitored(metrics: dict, monitor: str, owner: str) -> float | None:
    """The monitored value, or an error listing what is logged when it is absent."""
    if monitor not in metrics:
        raise ConfigError(
            f"{owner} monitors {monitor!r}, which is not logged. Logged: {', '.join(sorted(metrics)) or '(nothing)'}."
        )
    return metrics[monitor]
