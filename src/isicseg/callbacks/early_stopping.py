from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._numbers import check_number
from ._monitor import Mode, check_mode, improved, monitored
from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stop when a monitored metric has not improved for ``patience`` validations.

    Args:
        monitor: Logged metric, e.g. ``"val_loss"``.
        mode: ``"min"`` or ``"max"``.
        patience: Validations without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.

    Example:
        >>> from types import SimpleNamespace
        >>> stopper = EarlyStopping(monitor="val_loss", patience=2)
        >>> trainer = SimpleNamespace(epoch=0, should_stop=False, validated_this_epoch=True, metrics={})
        >>> for trainer.epoch, loss in enumerate([0.9, 0.8, 0.85, 0.82]):
        ...     trainer.metrics = {"val_loss": loss}
        ...     stopper.on_train_epoch_end(trainer)
        >>> trainer.should_stop, stopper.best, stopper.stopped_epoch
        (True, 0.8, 3)
    """

    def __init__(
        self, monitor: str = "val_loss", *, mode: Mode = "min", patience: int = 3, min_delta: float = 0.0
    ) -> None:
        check_mode(mode)
        check_number(patience, "patience", low=1, integer=True, where="EarlyStopping: ")
        check_number(min_delta, "min_delta", low=0, where="EarlyStopping: ")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    @property
    def state_key(self) -> str:
        """Derived from the settings, so that several instances keep their own state."""
        return f"EarlyStopping{{monitor={self.monitor}, mode={self.mode}}}"

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait, self.stopped_epoch = state["best"], state["wait"], state["stopped_epoch"]

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        if self.monitor.startswith("val_") and not trainer.validated_this_epoch:
            return
        value = monitored(trainer.metrics, self.monitor, "EarlyStopping")
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = float(value), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.should_stop = True
