from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(Callback):
    """Write epoch metrics and per-step losses as TensorBoard scalars.

    Needs the optional extra: ``pip install 'isicseg[tensorboard]'``.

    Args:
        log_dir: Folder for event files (default: ``<run folder>/tensorboard``).

    Example:
        >>> from isicseg import Trainer, TrainerConfig
        >>> trainer = Trainer(TrainerConfig(out_dir="runs/tb"), callbacks=[TensorBoardLogger()])  # doctest: +SKIP
    """

    def __init__(self, log_dir: str | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError as error:
            raise ConfigError(
                f"TensorBoardLogger needs the tensorboard package ({error}); install it with pip install "
                "'isicseg[tensorboard]'."
            ) from None
        self.log_dir = log_dir
        self._writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = self.log_dir or (trainer.out_dir / "tensorboard" if trainer.out_dir else "runs/tensorboard")
        if trainer.is_main_process:
            self._writer = SummaryWriter(str(folder))

    def on_train_batch_end(self, trainer: Trainer, losses: dict[str, float], batch: Any, batch_idx: int) -> None:
        if self._writer is not None:
            for name, value in losses.items():
                self._writer.add_scalar(f"step/{name}", value, trainer.global_step)

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        if self._writer is not None:
            for name, value in trainer.metrics.items():
                if isinstance(value, (int, float)) and name != "epoch":
                    self._writer.add_scalar(f"epoch/{name}", value, trainer.epoch)
            self._writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._writer is not None:
            self._writer.close()
