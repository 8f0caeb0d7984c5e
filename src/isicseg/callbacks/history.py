from __future__ import annotations

import csv
import json
import math
from typing import TYPE_CHECKING

from ..exceptions import CheckpointError
from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["HistoryLogger"]


class HistoryLogger(Callback):
    """Write ``trainer.history`` (one row of metrics per epoch) to ``history.csv`` and
    ``history.json`` in the run folder after every epoch, and the loss curves (training
    and validation loss per epoch) to ``loss_curve.png`` at the end of training. The
    history is part of every checkpoint, so a resumed run continues the same files.

    Args:
        plot: Write ``loss_curve.png`` at the end of training.

    Example:
        >>> from isicseg import Trainer, TrainerConfig
        >>> trainer = Trainer(TrainerConfig(epochs=1), callbacks=[HistoryLogger(plot=False)])  # no loss_curve.png
        >>> [type(c).__name__ for c in trainer.callbacks]  # given: not added a second time
        ['HistoryLogger']
    """

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        self._write(trainer, trainer.history)

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        if (
            isinstance(exception, CheckpointError)
            and trainer.history
            and trainer.history[-1].get("epoch") == trainer.epoch
        ):
            self._write(trainer, trainer.history[:-1])  # last.pt lacks this epoch: so must the history files

    def _write(self, trainer: Trainer, history: list[dict]) -> None:
        if trainer.out_dir is None or not trainer.is_main_process:
            return
        rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in history]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with (trainer.out_dir / "history.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        (trainer.out_dir / "history.json").write_text(json.dumps(rows, indent=1) + "\n")

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.plot and trainer.out_dir is not None and trainer.is_main_process and trainer.history:
            from ..viz import plot_loss_curves

            curves = {k: [row.get(k) for row in trainer.history] for k in ("epoch", "train_loss", "val_loss")}
            plot_loss_curves(curves, trainer.out_dir / "loss_curve.png")
