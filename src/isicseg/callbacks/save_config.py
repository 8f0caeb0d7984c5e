"""``config.json`` in the run folder: the one writer of it (Lightning's ``SaveConfigCallback`` is the model)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .base import Callback

if TYPE_CHECKING:
    from ..engine.trainer import Trainer

__all__ = ["CONFIG_FILE", "SaveConfig"]

CONFIG_FILE = "config.json"
"""The file :class:`SaveConfig` writes in the Trainer's ``out_dir``."""


class SaveConfig(Callback):
    """Write the configuration of a fit as ``config.json`` in the Trainer's ``out_dir``.

    Nothing else writes that file. A :class:`~isicseg.Trainer` with an ``out_dir`` and no
    ``SaveConfig`` among its callbacks adds ``SaveConfig()``, which writes the Trainer's own
    :class:`~isicseg.TrainerConfig`; ``isicseg train`` passes ``SaveConfig(run_config,
    checkpoint_key="run_config")``, so its folder holds the whole
    :class:`~isicseg.config.RunConfig` (one schema) and every checkpoint carries it too.

    Args:
        config: Anything with ``to_dict()`` (default: the Trainer's ``config``).
        checkpoint_key: Also store ``config.to_dict()`` in every checkpoint under this key
            (``None``: only the file).

    Example:
        >>> from isicseg.engine import Trainer, TrainerConfig
        >>> trainer = Trainer(TrainerConfig(out_dir=str(getfixture("tmp_path"))))
        >>> [type(c).__name__ for c in trainer.callbacks if isinstance(c, SaveConfig)]
        ['SaveConfig']
    """

    def __init__(self, config: Any = None, *, checkpoint_key: str | None = None) -> None:
        self.config = config
        self.checkpoint_key = checkpoint_key

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.out_dir is not None and trainer.is_main_process:
            config = self.config if self.config is not None else trainer.config
            (trainer.out_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def on_save_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        if self.checkpoint_key is not None:
            checkpoint[self.checkpoint_key] = (self.config if self.config is not None else trainer.config).to_dict()
