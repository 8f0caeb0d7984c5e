"""The callback protocol: hooks the :class:`~isicseg.Trainer` calls, in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Base class of callbacks; override the hooks you need.

    Hook order in :meth:`Trainer.fit <isicseg.Trainer.fit>`::

        on_fit_start
        (on_load_checkpoint, when resuming)
        for each epoch:
            on_train_epoch_start
            for each batch: on_train_batch_start, on_train_batch_end
            on_validation_start, on_validation_end      (when validating)
            on_train_epoch_end                          (checkpoint callbacks last)
            on_train_epoch_logged                       (everything of the epoch is in metrics)
            on_save_checkpoint                          (when the run has a folder)
        on_fit_end
        on_exception                                    (instead, if an error escapes)

    The trainer's state is read from ``trainer``: ``model``, ``epoch``, ``global_step``,
    ``metrics`` (latest values: ``train_loss``, ``val_loss``, ``val_jaccard``, ...),
    ``optimizer``, ``config``, ``out_dir``. Set ``trainer.should_stop = True`` to end
    training after the current epoch. State returned by :meth:`~isicseg.callbacks.Callback.state_dict` is saved in
    checkpoints under :attr:`state_key` and given back to :meth:`~isicseg.callbacks.Callback.load_state_dict` on
    resume.
    """

    @property
    def state_key(self) -> str:
        """Key of this callback's state in checkpoints (unique per class by default)."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """What to save in checkpoints (plain values and tensors)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, when resuming."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Training is about to start (before a resumed state is loaded)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Training finished normally."""

    def on_train_epoch_start(self, trainer: Trainer) -> None:
        """An epoch starts; ``trainer.epoch`` is its 0-based index."""

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        """The epoch's training and validation are done; callbacks may add to ``trainer.metrics`` here."""

    def on_train_epoch_logged(self, trainer: Trainer) -> None:
        """After every ``on_train_epoch_end``: ``trainer.metrics`` holds all that was logged this epoch
        (the place to show or export it, whatever the order of the callbacks)."""

    def on_train_batch_start(self, trainer: Trainer, batch: Any, batch_idx: int) -> None:
        """A batch ``(images, targets)`` is about to be used."""

    def on_train_batch_end(self, trainer: Trainer, losses: dict[str, float], batch: Any, batch_idx: int) -> None:
        """A batch was used; ``losses`` holds each loss component and ``loss``."""

    def on_validation_start(self, trainer: Trainer) -> None:
        """Validation starts."""

    def on_validation_end(self, trainer: Trainer) -> None:
        """Validation ended; its values are in ``trainer.metrics``."""

    def on_save_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        """``checkpoint`` is about to be written; add entries to it if needed."""

    def on_load_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        """``checkpoint`` was loaded to resume training."""

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        """An exception is escaping :meth:`~isicseg.Trainer.fit`."""
