from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["LearningRateMonitor"]


class LearningRateMonitor(Callback):
    """Log the learning rate of each parameter group: ``lr`` (first group) and
    ``lr_<i>`` for the others, at the end of each epoch; ``trainer.lr_history`` keeps
    one value per optimisation step.

    Example:
        >>> import torch
        >>> from types import SimpleNamespace
        >>> trainer = SimpleNamespace(optimizer=torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01),
        ...     metrics={})
        >>> monitor = LearningRateMonitor()
        >>> monitor.on_train_batch_end(trainer, {}, None, 0)
        >>> monitor.on_train_epoch_end(trainer)
        >>> monitor.steps, trainer.metrics
        ([0.01], {'lr': 0.01})
    """

    def __init__(self) -> None:
        self.steps: list[float] = []

    def on_train_batch_end(self, trainer: Trainer, losses, batch, batch_idx: int) -> None:
        self.steps.append(trainer.optimizer.param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        for i, group in enumerate(trainer.optimizer.param_groups):
            trainer.metrics["lr" if i == 0 else f"lr_{i}"] = group["lr"]
