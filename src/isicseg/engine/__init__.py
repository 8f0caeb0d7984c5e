"""The training engine: configuration, trainer, checkpoints, sampling, torch.distributed."""

from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .config import TrainerConfig as TrainerConfig
from .samplers import EpochBatchSampler as EpochBatchSampler
from .trainer import Trainer as Trainer
from .trainer import collate as collate

__all__ = ["EpochBatchSampler", "Trainer", "TrainerConfig", "collate", "load_checkpoint", "save_checkpoint"]
