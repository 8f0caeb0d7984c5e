"""Submodules fitted in closed form after each training epoch: the protocol, and the Trainer's part."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from . import distributed as dist

__all__ = ["ClosedFormFit", "fit_closed_form"]


@runtime_checkable
class ClosedFormFit(Protocol):
    """A submodule fitted in closed form on what it collected during the epoch's training
    passes, instead of by the optimiser (the ``lesion_crop`` head's logistic regression).

    After each epoch's optimiser steps the :class:`~isicseg.Trainer` calls
    :meth:`collected_samples` on every such submodule of the model, gathers the result from
    every process under torchrun (rank order; one item in a single process) and hands the
    list to :meth:`fit_samples`, so that every process fits the same thing. The module
    itself never calls ``torch.distributed``.

    Such a module collects only in passes that could carry gradients (train mode *and*
    ``torch.is_grad_enabled()``): the Trainer's validation runs the model in train mode for
    its loss, but under ``torch.no_grad()``, so no validation image reaches a fit or a gradient.
    """

    def collected_samples(self) -> Any:
        """What this process kept since the model was built (picklable: it may cross processes)."""
        ...

    def fit_samples(self, samples: list[Any]) -> None:
        """Fit on every process's :meth:`collected_samples`, in rank order."""
        ...


def fit_closed_form(model: torch.nn.Module) -> int:
    """Fit every :class:`ClosedFormFit` submodule of ``model`` on every process's samples; how many there were."""
    fitted = 0
    for module in model.modules():
        if isinstance(module, ClosedFormFit):
            module.fit_samples(dist.all_gather_objects(module.collected_samples()))
            fitted += 1
    return fitted
