from __future__ import annotations

import csv
import json
import math
from typing import TYPE_CHECKING, Any

from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["HistoryLogger"]


class HistoryLogger(Callback):
    """Write one row of metrics per epoch to ``history.csv`` and ``history.json`` in the
    run folder, and the loss curves (training and validation loss per epoch) to
    ``loss_curve.png`` at the end of training. Rows are kept in checkpoints, so a resumed
    run continues the same files.

    Args:
        plot: Write ``loss_curve.png`` at the end of training.

    Example:
        >>> HistoryLogger().rows
        []
    """

    def __init__(self, plot: bool = True) -> None:
        self.rows: list[dict[str, Any]] = []
        self.plot = plot

    def state_dict(self) -> dict[str, Any]:
        return {"rows": json.dumps(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = json.loads(state["rows"])

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        row = {"epoch": trainer.epoch, **{k: v for k, v in trainer.metrics.items() if isinstance(v, (int, float))}}
        self.rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
        if trainer.out_dir is None or not trainer.is_main_process:
            return
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        with (trainer.out_dir / "history.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        (trainer.out_dir / "history.json").write_text(json.dumps(self.rows, indent=1) + "\n")

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.plot and trainer.out_dir is not None and trainer.is_main_process and self.rows:
            from ..viz import plot_loss_curves

            plot_loss_curves({k: [r.get(k) for r in self.rows] for k in ("epoch", "train_loss", "val_loss")}, trainer.out_dir / "loss_curve.png")
