"""Training callbacks (one per module, as in Lightning) and their registry.

Callbacks can be built by name with ``CALLBACKS.get(name)(**kwargs)``; plugins add more
through the ``isicseg.callbacks`` entry-point group.
"""

from ..registry import Registry
from .base import Callback as Callback
from .early_stopping import EarlyStopping as EarlyStopping
from .history import HistoryLogger as HistoryLogger
from .lr_monitor import LearningRateMonitor as LearningRateMonitor
from .model_checkpoint import ModelCheckpoint as ModelCheckpoint
from .progress import ProgressBar as ProgressBar
from .save_config import SaveConfig as SaveConfig
from .tensorboard import TensorBoardLogger as TensorBoardLogger

CALLBACKS: Registry[type[Callback]] = Registry("callbacks")
"""Callback classes by name (``model_checkpoint``, ``early_stopping``, ``lr_monitor``,
``history``, ``progress``, ``save_config``, ``tensorboard``); plugins use the ``isicseg.callbacks`` group."""
for _name, _cls in (
    ("model_checkpoint", ModelCheckpoint),
    ("early_stopping", EarlyStopping),
    ("lr_monitor", LearningRateMonitor),
    ("history", HistoryLogger),
    ("progress", ProgressBar),
    ("save_config", SaveConfig),
    ("tensorboard", TensorBoardLogger),
):
    CALLBACKS.register(_name, _cls)

__all__ = [
    "CALLBACKS",
    "Callback",
    "EarlyStopping",
    "HistoryLogger",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ProgressBar",
    "SaveConfig",
    "TensorBoardLogger",
]
