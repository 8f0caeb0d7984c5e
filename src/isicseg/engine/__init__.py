"""The training engine: configuration, trainer, checkpoints, sampling, torch.distributed."""

from .checkpoint import save_checkpoint as save_checkpoint
from .config import TrainerConfig as TrainerConfig
from .samplers import EpochBatchSampler as EpochBatchSampler
from .trainer import Trainer as Trainer
from .trainer import collate as collate
from .validation import DetectionEvaluator as DetectionEvaluator
from .validation import Evaluator as Evaluator

__all__ = [
    "DetectionEvaluator",
    "EpochBatchSampler",
    "Evaluator",
    "Trainer",
    "TrainerConfig",
    "collate",
    "save_checkpoint",
]
