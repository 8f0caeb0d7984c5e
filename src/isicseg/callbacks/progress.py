from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from .._numbers import check_number
from ..logs import PROGRESS_SECONDS, Progress, console_if_unconfigured, logger
from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["ProgressBar"]


class ProgressBar(Callback):
    """Training progress: a tqdm bar per epoch on a terminal, log lines otherwise.

    Without a terminal (a batch job, CI, ``train.log``), a line with the step, the running
    loss, images/s and the time left is logged every ``log_every_n_steps`` steps, or when
    30 seconds (:data:`~isicseg.logs.PROGRESS_SECONDS`) have passed since the last one. Every epoch
    ends with one line of its metrics. Lines go to the ``isicseg`` logger (see
    :mod:`isicseg.logs`); only the main process of a distributed run writes them.

    Args:
        enable: Show the tqdm bar; ``None`` decides by whether stderr is a terminal.
        log_every_n_steps: Log a line every this many steps when the bar is off
            (``None``: by time, at least every 30 s).

    Example:
        >>> from isicseg import Trainer, TrainerConfig
        >>> trainer = Trainer(TrainerConfig(epochs=1), callbacks=[ProgressBar(enable=False, log_every_n_steps=10)])
        >>> [type(c).__name__ for c in trainer.callbacks]  # the Trainer adds its history logger
        ['ProgressBar', 'HistoryLogger']
    """

    def __init__(self, enable: bool | None = None, log_every_n_steps: int | None = None) -> None:
        if log_every_n_steps is not None:
            check_number(log_every_n_steps, "log_every_n_steps", low=1, integer=True, where="ProgressBar: ")
        self.enable = enable
        self.log_every_n_steps = log_every_n_steps
        self._bar: Any = None
        self._progress: Progress | None = None

    def _bar_on(self) -> bool:
        return sys.stderr.isatty() if self.enable is None else self.enable

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.is_main_process:
            console_if_unconfigured()

    def on_train_epoch_start(self, trainer: Trainer) -> None:
        if not trainer.is_main_process:
            return
        what = f"epoch {trainer.epoch + 1}/{trainer.config.epochs}"
        if self._bar_on():
            self._bar = tqdm(total=trainer.batches_per_epoch, desc=what, leave=False)
        else:
            self._progress = Progress(
                what,
                trainer.batches_per_epoch,
                items_per_step=trainer.config.batch_size,
                every=self.log_every_n_steps,
                interval=PROGRESS_SECONDS,
            )

    def on_train_batch_end(self, trainer: Trainer, losses: dict[str, float], batch: Any, batch_idx: int) -> None:
        loss = losses.get("loss", float("nan"))
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.3f}")
        elif self._progress is not None:
            self._progress.update(loss=loss)

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        self._close()

    def on_train_epoch_logged(self, trainer: Trainer) -> None:
        if trainer.is_main_process:  # after every callback logged (the learning-rate monitor's lr too)
            shown = {
                k: v
                for k, v in trainer.metrics.items()
                if k in ("train_loss", "val_loss", "val_jaccard", "val_melanoma_auc", "lr")
            }
            text = "  ".join(f"{k} {v:.4g}" for k, v in shown.items() if isinstance(v, (int, float)))
            logger.info("epoch %d/%d  %s", trainer.epoch + 1, trainer.config.epochs, text)

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = self._progress = None
