from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._monitor import Mode, check_mode, improved, monitored
from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Keep the best checkpoint by a monitored metric (the trainer always keeps ``last.pt``).

    Args:
        monitor: Logged metric to follow, e.g. ``"val_jaccard"`` or ``"val_loss"``.
        mode: ``"max"`` when larger is better, ``"min"`` otherwise.
        filename: File name of the best checkpoint, in the run folder (or ``dirpath``).
        dirpath: Folder for the file (default: the trainer's ``out_dir``).

    Example:
        >>> ModelCheckpoint(monitor="val_loss", mode="min").best_score is None
        True
        >>> ModelCheckpoint(monitor="val_melanoma_auc", filename="best_auc.pt").state_key
        'ModelCheckpoint{monitor=val_melanoma_auc, mode=max, filename=best_auc.pt}'

    """

    def __init__(
        self,
        monitor: str = "val_jaccard",
        *,
        mode: Mode = "max",
        filename: str = "best.pt",
        dirpath: str | Path | None = None,
    ) -> None:
        check_mode(mode)
        self.monitor, self.mode, self.filename, self.dirpath = monitor, mode, filename, dirpath
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.best_path: str | None = None

    @property
    def state_key(self) -> str:
        """Derived from the settings, as in Lightning, so that several instances (best
        Jaccard, best AUC) keep their own state in one checkpoint."""
        return f"ModelCheckpoint{{monitor={self.monitor}, mode={self.mode}, filename={self.filename}}}"

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_path": self.best_path}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score, self.best_epoch, self.best_path = state["best_score"], state["best_epoch"], state["best_path"]

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        if self.monitor.startswith("val_") and not trainer.validated_this_epoch:
            return
        value = monitored(trainer.metrics, self.monitor, "ModelCheckpoint")
        if improved(value, self.best_score, self.mode):
            self.best_score, self.best_epoch = float(value), trainer.epoch
            folder = Path(self.dirpath) if self.dirpath else trainer.out_dir
            if folder is not None:
                self.best_path = str(folder / self.filename)
                trainer.save_checkpoint(self.best_path)
