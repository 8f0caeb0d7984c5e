"""One check for every public numeric argument: a real number (NumPy scalars included), finite, in its range.

Used by the metric functions, ``build_mask_rcnn`` and the config sections, so that a value out
of range is refused where it is passed, in one wording: "threshold must be a number in
[0, 1]; got nan." A string such as ``'0.5'`` is refused the same way, never as a NumPy
``UFuncTypeError`` from deep inside.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .exceptions import ConfigError

__all__ = ["check_number"]


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "(finite)"


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    where: str = "",
) -> float:
    """``value`` as a Python number, or :class:`~isicseg.exceptions.ConfigError` saying what is allowed.

    Args:
        value: The argument as passed (``bool`` is not a number here).
        name: Its name, for the message.
        low, high: The range's ends (``None``: unbounded).
        low_open, high_open: Whether an end is excluded.
        integer: Whether only whole numbers (``int`` or a NumPy integer) are allowed.
        where: Prefix naming the function or file, e.g. ``"build_mask_rcnn: "``.

    Example:
        >>> check_number(np.float32(0.5), "threshold", low=0, high=1)
        0.5
        >>> check_number("0.5", "threshold", low=0, high=1)
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: threshold must be a number in [0, 1]; got '0.5' (a str).
    """
    kind = "an int" if integer else "a number"
    allowed = f"{kind} {_interval(low, high, low_open, high_open)}"
    wanted = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise ConfigError(f"{where}{name} must be {allowed}; got {value!r} (a {type(value).__name__}).")
    number = int(value) if integer else float(value)
    if (
        not math.isfinite(number)
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
    ):
        raise ConfigError(f"{where}{name} must be {allowed}; got {value!r}.")
    return number
