from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["ProgressBar"]


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss; quiet when output is not a terminal
    (then one summary line per epoch is printed instead).

    Args:
        enable: ``None`` decides by whether stderr is a terminal.

    Example:
        >>> ProgressBar(enable=False).enable
        False
    """

    def __init__(self, enable: bool | None = None) -> None:
        self.enable = enable
        self._bar: Any = None

    def _on(self, trainer: Trainer) -> bool:
        interactive = sys.stderr.isatty() if self.enable is None else self.enable
        return interactive and trainer.is_main_process

    def on_train_epoch_start(self, trainer: Trainer) -> None:
        if self._on(trainer):
            self._bar = tqdm(total=trainer.batches_per_epoch, desc=f"epoch {trainer.epoch + 1}/{trainer.config.epochs}", leave=False)

    def on_train_batch_end(self, trainer: Trainer, losses: dict[str, float], batch: Any, batch_idx: int) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{losses.get('loss', float('nan')):.3f}")

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if trainer.is_main_process:
            shown = {k: v for k, v in trainer.metrics.items() if k in ("train_loss", "val_loss", "val_jaccard", "val_melanoma_auc", "lr")}
            text = "  ".join(f"{k} {v:.4g}" for k, v in shown.items() if isinstance(v, (int, float)))
            print(f"epoch {trainer.epoch + 1}/{trainer.config.epochs}  {text}", flush=True)

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
