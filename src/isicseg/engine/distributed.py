"""torch.distributed helpers: one code path for 1 process and for torchrun.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) :func:`init_distributed`
creates the process group (NCCL on GPUs, gloo on CPU) and arranges for
:func:`shutdown_distributed` to close it when the interpreter exits. Everything else here
works unchanged in a single process.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "init_distributed",
    "shutdown_distributed",
    "is_distributed",
    "rank",
    "world_size",
    "local_rank",
    "is_main_process",
    "all_gather_objects",
    "any_true",
    "barrier",
]


def is_distributed() -> bool:
    """Whether a process group is open in this process."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """How many processes are in the group (1 without one)."""
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``; 0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    """Whether this is rank 0, the process that writes files (true without a group)."""
    return rank() == 0


def init_distributed(device: torch.device) -> bool:
    """Join the torchrun process group if the environment asks for one; return whether
    training is distributed.

    A group created here is closed by :func:`shutdown_distributed` at interpreter exit
    (or earlier, by calling it), as torch asks of every program that opens one: the
    group's threads are then stopped while Python is still whole, not during its shutdown.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(shutdown_distributed)
    return True


def shutdown_distributed() -> None:
    """Close the process group, if one is open (a no-op otherwise, so it is safe to
    call twice). Runs by itself at exit after :func:`init_distributed` created a group."""
    if is_distributed():
        dist.destroy_process_group()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any (so that all stop together)."""
    if not is_distributed():
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for without a group)."""
    if is_distributed():
        dist.barrier()
