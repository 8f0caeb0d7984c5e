"""Logging: one ``isicseg`` logger, progress lines for long work, and a run's log file.

Library code logs through ``logging.getLogger("isicseg")`` (or a child such as
``isicseg.engine``) and never prints. The ``isicseg`` command configures the handlers
(console, and ``train.log`` in a run folder). In a script or notebook that configured no
logging at all, :func:`console_if_unconfigured` gives the logger a console handler the
first time a Trainer starts, so epoch lines are not lost, as Lightning does for its own
logger; a configured ``logging`` setup is left alone.

Long work without a terminal (a batch job, CI, a redirected log) shows :class:`Progress`
lines such as ``train epoch 1/3  step 40/400  loss 0.52  3.1 images/s  eta 0:19:12``, in
the spirit of torchvision's reference ``MetricLogger``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["logger", "console_if_unconfigured", "log_file", "Progress", "PROGRESS_SECONDS"]

logger = logging.getLogger("isicseg")

PROGRESS_SECONDS = 30.0
"""Default longest gap between two progress lines (when no step count is given)."""


def console_if_unconfigured() -> None:
    """Log ``isicseg``'s INFO lines to stderr when nothing else would show them (neither
    the ``isicseg`` logger nor the root logger has a handler)."""
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


@contextmanager
def log_file(path: Path | None) -> Iterator[None]:
    """Copy ``isicseg``'s INFO lines into ``path`` (appended) while the block runs."""
    if path is None:
        yield
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress lines for ``total`` items of work: count, rate, time left, and any values given.

    A line is logged after every ``every`` updates, or (``every=None``) when
    ``interval`` seconds have passed since the last line, and always for the last item.

    Args:
        what: What is being done (``"train epoch 1/3"``, ``"evaluate"``).
        total: Number of steps in all.
        unit: What a step is called in the lines (``"step"``, ``"image"``).
        items_per_step: Images per step, for the images/s rate.
        every: Log every this many steps (``None``: by time).
        interval: With ``every=None``, the longest gap between two lines, in seconds.
        log: The logger to write to (default: the ``isicseg`` logger).

    Example:
        >>> progress = Progress("evaluate", 3, unit="image", every=2)
        >>> for _ in range(3):
        ...     progress.update()
        >>> [line.split("  ")[:2] for line in progress.lines]
        [['evaluate', 'image 2/3'], ['evaluate', 'image 3/3']]
    """

    def __init__(
        self,
        what: str,
        total: int,
        *,
        unit: str = "step",
        items_per_step: int = 1,
        every: int | None = None,
        interval: float = PROGRESS_SECONDS,
        log: logging.Logger | None = None,
    ) -> None:
        self.what, self.total, self.unit, self.items_per_step, self.every, self.interval = (
            what,
            total,
            unit,
            items_per_step,
            every,
            interval,
        )
        self.log = log or logger
        self.done = 0
        self.lines: list[str] = []
        self._start = self._last = time.perf_counter()

    def update(self, steps: int = 1, **values: float) -> None:
        """Count ``steps`` more steps; ``values`` (e.g. ``loss=0.5``) go into the line."""
        self.done += steps
        now = time.perf_counter()
        due = self.done % self.every == 0 if self.every else now - self._last >= self.interval
        if not (due or self.done >= self.total):
            return
        self._last = now
        elapsed = now - self._start
        parts = [self.what, f"{self.unit} {self.done}/{self.total}"]
        parts += [f"{name} {value:.4g}" for name, value in values.items()]
        rate = self.done * self.items_per_step / elapsed if elapsed > 0 else float("inf")
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        parts += [f"{rate:.3g} images/s", f"eta {_clock(left)}"]
        line = "  ".join(parts)
        self.lines.append(line)
        self.log.info("%s", line)
