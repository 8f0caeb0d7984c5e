"""Training configuration: one frozen dataclass, saved with every run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._devices import Precision, is_device_name
from .._typed import check_types, from_dict, load_json, to_dict
from ..exceptions import ConfigError

__all__ = ["MAX_LR", "TrainerConfig"]

MAX_LR = 10.0
"""Largest learning rate accepted (larger ones overflow or diverge at the first step)."""


@dataclass(frozen=True)
class TrainerConfig:
    """Everything that decides how :class:`~isicseg.Trainer` trains.

    Args:
        epochs: Passes over the training data.
        batch_size: Images per step on each process.
        optimizer: ``"sgd"`` (momentum, as in the Mask R-CNN paper) or ``"adamw"``.
        lr: Learning rate; ``None`` picks SGD's 0.02 at batch 16, scaled linearly to the
            total batch (``batch_size x accumulate x processes``), or AdamW's 3e-4.
        momentum: SGD momentum.
        weight_decay: Weight decay of both optimizers.
        warmup_steps: Optimisation steps of linear warmup, from ``warmup_factor x lr``.
        warmup_factor: Starting fraction of the learning rate during warmup.
        schedule: ``"step"`` (x ``gamma`` at each milestone), ``"cosine"`` (to zero) or
            ``"constant"`` after warmup.
        milestones: For ``"step"``: fractions of training at which the rate drops.
        gamma: For ``"step"``: the factor of each drop.
        grad_clip_norm: Clip the gradient's global norm to this (``None``: no clipping).
        accumulate: Batches whose gradients are summed before each optimisation step.
        precision: ``"auto"`` (bf16 where the GPU supports it, else fp16 with a gradient
            scaler; fp32 on CPU), ``"bf16"`` (also on CPU, under ``torch.autocast("cpu")``),
            ``"fp16"`` (CUDA only) or ``"fp32"``.
        channels_last: Put the model's weights in channels-last memory format (faster
            convolutions on some CPUs and GPUs; off by default until measured).
        group_by_aspect_ratio: Put landscape and portrait images in separate batches.
        balanced_sampling: Draw training images with probability inverse to their
            class frequency (melanoma is 19% of ISIC 2017 training images).
        source_shares: Share of each training source in an epoch, in the order of the
            sources (a MultiSourceDataset's names), e.g. 0.5,0.5; None draws every item once.
        epoch_items: Items drawn per epoch with source_shares (None: the dataset's length).
        num_workers: DataLoader worker processes; ``"auto"``: none on a machine with 4 cores or
            fewer (workers would take cores from the model's own threads), else half the
            cores, at most 8 (see ``resolved_num_workers()``).
        num_threads: Threads of torch's CPU operations (``torch.set_num_threads``) while
            fitting; ``None`` keeps torch's choice (``OMP_NUM_THREADS`` or the core count).
        device: ``"auto"`` (CUDA when available, on this process's local rank), ``"cpu"``,
            ``"cuda"``, ``"cuda:1"``, ...
        seed: Seeds Python, NumPy and torch at the start of training, and the sampler.
        validate_every: Validate every this many epochs (0: never).
        skip_nonfinite: Skip batches whose loss is NaN or infinite (counted in the
            history) instead of raising :class:`~isicseg.exceptions.NonFiniteLossError`.
        out_dir: Run folder for ``config.json``, checkpoints and logs (``None``: write
            nothing).
        eval_batch_size: Images per forward pass during validation, at most (images of
            different sizes go through separate passes; see :func:`~isicseg.ops.per_shape`).

    Example:
        >>> config = TrainerConfig(epochs=20, batch_size=4)
        >>> config.resolved_lr()  # 0.02 at batch 16, scaled linearly
        0.005
    """

    epochs: int = 12
    batch_size: int = 2
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    warmup_factor: float = 0.001
    schedule: Literal["step", "cosine", "constant"] = "step"
    milestones: tuple[float, ...] = (0.67, 0.89)
    gamma: float = 0.1
    grad_clip_norm: float | None = None
    accumulate: int = 1
    precision: Precision = "auto"
    channels_last: bool = False
    group_by_aspect_ratio: bool = True
    balanced_sampling: bool = False
    source_shares: tuple[float, ...] | None = None
    epoch_items: int | None = None
    num_workers: int | Literal["auto"] = "auto"
    num_threads: int | None = None
    device: str = "auto"
    seed: int = 0
    validate_every: int = 1
    skip_nonfinite: bool = False
    out_dir: str | None = None
    eval_batch_size: int = 4

    def __post_init__(self) -> None:
        check_types(self)
        checks = [
            (self.epochs >= 1, "epochs", "an int >= 1"),
            (self.batch_size >= 1, "batch_size", "an int >= 1"),
            (self.lr is None or 0 < self.lr <= MAX_LR, "lr", f"a float in (0, {MAX_LR:g}] or None"),
            (all(0 < m < 1 for m in self.milestones), "milestones", "fractions in (0, 1)"),
            (self.accumulate >= 1, "accumulate", "an int >= 1"),
            (self.warmup_steps >= 0, "warmup_steps", "an int >= 0"),
            (0 < self.warmup_factor <= 1, "warmup_factor", "a float in (0, 1]"),
            (self.grad_clip_norm is None or self.grad_clip_norm > 0, "grad_clip_norm", "a positive float or None"),
            (self.num_workers == "auto" or self.num_workers >= 0, "num_workers", "an int >= 0 or 'auto'"),
            (self.num_threads is None or self.num_threads >= 1, "num_threads", "an int >= 1 or None"),
            (self.validate_every >= 0, "validate_every", "an int >= 0"),
            (self.eval_batch_size >= 1, "eval_batch_size", "an int >= 1"),
            (
                self.source_shares is None
                or (all(s > 0 for s in self.source_shares) and abs(sum(self.source_shares) - 1) < 1e-6),
                "source_shares",
                "positive shares that sum to 1, or None",
            ),
            (self.epoch_items is None or self.epoch_items >= 1, "epoch_items", "an int >= 1 or None"),
            (
                self.epoch_items is None or self.source_shares is not None,
                "epoch_items",
                "None without source_shares (it sets how many items the shares divide; without them an epoch is the "
                "dataset once)",
            ),
            (
                not (self.balanced_sampling and self.source_shares),
                "balanced_sampling",
                "False when source_shares are set (one sampling rule at a time)",
            ),
            (0 <= self.momentum < 1, "momentum", "a float in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay", "a float >= 0"),
            (0 < self.gamma <= 1, "gamma", "a float in (0, 1]"),
        ]
        checks.append((self.seed >= 0, "seed", "an int >= 0"))
        checks.append((is_device_name(self.device), "device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"))
        for ok, name, allowed in checks:
            if not ok:
                raise ConfigError(f"TrainerConfig.{name} must be {allowed}; got {getattr(self, name)!r}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> TrainerConfig:
        """Build from a dict such as a saved ``config.json``; unknown keys and wrong types are errors.

        Example:
            >>> TrainerConfig.from_dict({"epochs": 3, "milestones": [0.5]}).milestones
            (0.5,)
        """
        return from_dict(cls, values, source)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainerConfig:
        """Read a JSON file written by :meth:`save` (or by hand)."""
        return cls.from_dict(load_json(path, "Trainer config"), str(path))

    def save(self, path: str | Path) -> None:
        """Write the configuration as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def resolved_num_workers(self, cpu_count: int | None = None) -> int:
        """DataLoader workers: ``num_workers``, or for ``"auto"`` 0 with <= 4 cores, else half the cores up to 8.

        Example:
            >>> auto, three = TrainerConfig(), TrainerConfig(num_workers=3)
            >>> auto.resolved_num_workers(2), auto.resolved_num_workers(16), three.resolved_num_workers(2)
            (0, 8, 3)
        """
        if self.num_workers != "auto":
            return int(self.num_workers)
        cores = (
            cpu_count
            if cpu_count is not None
            else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        )
        return 0 if cores <= 4 else min(8, cores // 2)

    def resolved_lr(self, world_size: int = 1) -> float:
        """The learning rate used, after the linear scaling rule for SGD."""
        if self.lr is not None:
            return self.lr
        if self.optimizer == "adamw":
            return 3e-4
        return 0.02 * self.batch_size * self.accumulate * world_size / 16
