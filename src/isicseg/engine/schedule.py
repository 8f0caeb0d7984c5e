"""The learning-rate schedule, built from torch's schedulers as torchvision's reference
scripts do: ``LinearLR`` warmup, then ``MultiStepLR``, ``CosineAnnealingLR`` or a constant
rate, chained by ``SequentialLR``. One scheduler step per optimisation step."""

from __future__ import annotations

import math
import warnings

import torch
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler, MultiStepLR, SequentialLR

from .config import TrainerConfig

__all__ = ["build_scheduler", "replay_scheduler"]


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainerConfig, total_steps: int) -> LRScheduler:
    """The schedule ``config`` describes over ``total_steps`` optimisation steps.

    Warmup: ``warmup_steps`` steps rising linearly from ``warmup_factor x lr`` to ``lr``.
    Then ``"step"``: times ``gamma`` at each milestone (fractions of ``total_steps``, counted
    from the first step; one that falls inside the warmup takes effect on the first step
    after it); ``"cosine"``: half a cosine down to 0 at ``total_steps``; ``"constant"``: ``lr``.

    Example:
        >>> model = torch.nn.Linear(1, 1)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        >>> scheduler = build_scheduler(optimizer, TrainerConfig(warmup_steps=2, warmup_factor=0.5,
        ...     schedule="cosine"), 6)
        >>> rates = []
        >>> for _ in range(6):
        ...     rates.append(round(optimizer.param_groups[0]["lr"], 3)); optimizer.step(); scheduler.step()
        >>> rates
        [0.5, 0.75, 1.0, 0.854, 0.5, 0.146]
    """
    warmup = min(config.warmup_steps, total_steps)
    rest = max(1, total_steps - warmup)
    main: LRScheduler
    if config.schedule == "cosine":
        main = CosineAnnealingLR(optimizer, T_max=rest)
    elif config.schedule == "step":
        milestones = sorted({max(1, math.ceil(m * total_steps) - warmup) for m in config.milestones})
        main = MultiStepLR(optimizer, milestones=milestones, gamma=config.gamma)
    else:
        main = ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warmup == 0:
        return main
    for group in optimizer.param_groups:  # the main schedule was built at the full rate; warmup starts below it
        group["lr"] = group["initial_lr"]
    ramp = LinearLR(optimizer, start_factor=config.warmup_factor, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [ramp, main], milestones=[warmup])


def replay_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainerConfig, total_steps: int, steps: int
) -> LRScheduler:
    """A fresh schedule over ``total_steps``, advanced by ``steps``, setting the optimizer's rate
    to where it stands then (resuming a run whose length changed, or a 0.1 checkpoint)."""
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    scheduler = build_scheduler(optimizer, config, total_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": nothing is trained here
        for _ in range(steps):
            scheduler.step()
    return scheduler
