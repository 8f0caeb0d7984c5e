"""Validation metrics as a plug-in of the :class:`~isicseg.Trainer`.

An *evaluator* turns the model's eval-mode outputs on the validation images into
metrics, in two steps so that distributed validation gives the numbers a single process
would (an evaluator with a ``predict(model, images)`` method also makes the outputs, e.g.
with the test-time augmentation the final evaluation uses, so that the checkpoint is
chosen by the same answers that are reported): :meth:`Evaluator.rows` makes one plain dict per image (on each process,
for its
share of the images), the Trainer gathers the rows of all processes in image order, and
:meth:`Evaluator.summarize` reduces them to named numbers (logged with a ``val_``
prefix). Each validation batch's outputs are seen once.

The Trainer takes its evaluator from, in order: ``Trainer(evaluator=...)``; the default
evaluator registered for the validation dataset's type (:func:`register_default_evaluator`;
a :class:`torch.utils.data.Subset` counts as the dataset it draws from); else
:class:`~isicseg.engine.validation.DetectionEvaluator`, which needs nothing but
torchvision's detection contract. The package registers
:class:`~isicseg.evaluation.IsicEvaluator` for :class:`~isicseg.ISIC2017Dataset` (and so for
HAM10000), so a Trainer validating on ISIC data logs the ISIC 2017 scores without being
told; the engine itself knows neither the data nor the evaluation modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.ops import box_iou

from ..exceptions import ConfigError
from ..ops import per_shape
from . import distributed as dist

__all__ = ["Evaluator", "DetectionEvaluator", "ValidationLoop", "register_default_evaluator"]


@runtime_checkable
class Evaluator(Protocol):
    """What the Trainer needs of an evaluator."""

    def rows(
        self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]
    ) -> list[dict[str, Any]]:
        """One dict per image: the model's eval-mode ``outputs`` (on the CPU), the dataset's
        ``targets`` and the images' indices in the validation dataset."""
        ...

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        """Metrics from the rows of all validation images, in index order."""
        ...


_DEFAULT_EVALUATORS: list[tuple[type, Callable[[Any], Evaluator]]] = []


def register_default_evaluator(dataset_type: type, factory: Callable[[Any], Evaluator]) -> None:
    """Make ``factory(dataset)`` the evaluator of a Trainer validating on a ``dataset_type``
    (or a subclass, or a ``Subset`` of one) without ``Trainer(evaluator=...)``; the newest
    registration for a type wins."""
    if not isinstance(dataset_type, type) or not callable(factory):
        raise ConfigError(
            "register_default_evaluator(dataset_type, factory) needs a class and a callable; got "
            f"{dataset_type!r}, {factory!r}."
        )
    _DEFAULT_EVALUATORS.insert(0, (dataset_type, factory))


def _base_dataset(dataset: Any) -> Any:
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    return dataset


def _outputs(evaluator: Evaluator, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The evaluator's ``predict(model, images)`` if it has one, else the model's own eval-mode outputs
    (one pass per image shape: see :func:`~isicseg.ops.per_shape`)."""
    predict = getattr(evaluator, "predict", None)
    return predict(model, images) if callable(predict) else per_shape(model, images)


class DetectionEvaluator:
    """Mean IoU of the top-scoring detection's mask and box with the target's instances.

    For any dataset in torchvision's detection contract (targets with ``masks`` and
    ``boxes``): the top detection's mask (probability > 0.5) against the union of the
    target's masks, and its box against the target box it overlaps most. An image
    without a detection scores 0; an image without a target instance scores 1 when
    nothing is detected, else 0.

    Example:
        >>> output = {"scores": torch.tensor([0.9]), "boxes": torch.tensor([[0.0, 0, 2, 2]]),
        ...           "masks": torch.ones(1, 1, 2, 2)}
        >>> target = {"boxes": torch.tensor([[0.0, 0, 2, 2]]), "masks": torch.ones(1, 2, 2, dtype=torch.uint8)}
        >>> evaluator = DetectionEvaluator()
        >>> evaluator.summarize(evaluator.rows([output], [target], [0]))
        {'mask_iou': 1.0, 'box_iou': 1.0}
    """

    def rows(
        self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]
    ) -> list[dict[str, Any]]:
        return [self._row(output, target) for output, target in zip(outputs, targets)]

    @staticmethod
    def _row(output: dict[str, torch.Tensor], target: dict[str, Any]) -> dict[str, float]:
        truth_boxes = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
        if len(output["scores"]) == 0 or len(truth_boxes) == 0:
            empty = float(len(output["scores"]) == 0 and len(truth_boxes) == 0)
            return {"mask_iou": empty, "box_iou": empty}
        top = int(torch.argmax(output["scores"]))
        predicted = output["masks"][top, 0] > 0.5
        truth = torch.as_tensor(target["masks"]).bool().any(dim=0)
        union = int((predicted | truth).sum())
        mask_iou = int((predicted & truth).sum()) / union if union else 1.0
        return {
            "mask_iou": mask_iou,
            "box_iou": float(box_iou(output["boxes"][top : top + 1].float(), truth_boxes).max()),
        }

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        if not rows:
            return {"mask_iou": float("nan"), "box_iou": float("nan")}
        return {key: sum(row[key] for row in rows) / len(rows) for key in ("mask_iou", "box_iou")}


class ValidationLoop:
    """The validation part of :class:`~isicseg.Trainer` (a mixin: it uses the Trainer's
    ``config``, ``device``, ``evaluator``, ``metrics``, ``_autocast`` and ``_call``)."""

    def _item_loss(self, model: torch.nn.Module, image: torch.Tensor, target: dict[str, Any], index: int) -> float:
        """The total loss of one validation item (model in train mode, BatchNorm in eval mode).

        torchvision returns losses only in train mode, where the RPN and RoI heads draw
        random samples; each image is therefore scored alone under its own fixed seed,
        without touching the training RNG, so the value does not depend on batching,
        sharding or when it is computed.
        """
        target = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in target.items()}
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.config.seed + index)
            with self._autocast():
                return float(sum(model([image.to(self.device)], [target]).values()))

    @torch.no_grad()
    def _validation_pass(
        self, model: torch.nn.Module, dataset: torch.utils.data.Dataset, indices: Sequence[int], evaluator: Evaluator
    ) -> tuple[float, list[dict[str, Any]]]:
        """Sum of the total loss over ``indices``, and the evaluator's rows of their eval-mode outputs (with ``index``).

        Each item is read once, ``eval_batch_size`` at a time, for both its loss and its
        answer. BatchNorm layers stay in eval mode throughout, so validation never changes
        running statistics; the model's mode is restored at the end.
        """
        was_training = model.training
        total, rows = 0.0, []
        try:
            size = self.config.eval_batch_size
            for start in range(0, len(indices), size):
                chunk = list(indices[start : start + size])
                items = [dataset[i] for i in chunk]
                model.train()
                for module in model.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
                total += sum(
                    self._item_loss(model, image, target, index) for (image, target), index in zip(items, chunk)
                )
                model.eval()
                with torch.inference_mode(), self._autocast():
                    outputs = _outputs(evaluator, model, [image.to(self.device) for image, _ in items])
                outputs = [
                    {k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in o.items()} for o in outputs
                ]
                for index, row in zip(chunk, evaluator.rows(outputs, [t for _, t in items], chunk)):
                    rows.append({**row, "index": index})
        finally:
            model.train(was_training)
        return total, rows

    def evaluator_for(self, dataset: torch.utils.data.Dataset) -> Evaluator:
        """The evaluator used on ``dataset``: the Trainer's, the one registered for its type, or
        :class:`~isicseg.engine.validation.DetectionEvaluator`."""
        if self.evaluator is not None:
            return self.evaluator
        base = _base_dataset(dataset)
        factory = next((f for kind, f in _DEFAULT_EVALUATORS if isinstance(base, kind)), None)
        return factory(dataset) if factory is not None else DetectionEvaluator()

    def validate(self, model: torch.nn.Module, dataset: torch.utils.data.Dataset) -> dict[str, float]:
        """Validation loss and the evaluator's metrics of ``model`` on ``dataset``.

        Under torchrun each process takes every ``world_size``-th image (no padding,
        so no image counts twice) and the results are gathered, so every process gets
        the same numbers as a single process would. ``val_seconds`` is the time it took.
        """
        start = time.perf_counter()
        self.device = next(model.parameters()).device
        self._call("on_validation_start")
        evaluator = self.evaluator_for(dataset)
        indices = list(range(dist.rank(), len(dataset), dist.world_size()))
        loss_sum, rows = self._validation_pass(model, dataset, indices, evaluator)
        count = len(indices)
        gathered = dist.all_gather_objects((loss_sum, count, rows))
        all_rows = sorted((r for _, _, part in gathered for r in part), key=lambda r: r["index"])
        metrics = {"val_loss": sum(s for s, _, _ in gathered) / max(1, sum(c for _, c, _ in gathered))}
        metrics.update({f"val_{k}": float(v) for k, v in evaluator.summarize(all_rows).items()})
        metrics["val_seconds"] = time.perf_counter() - start
        self.metrics.update(metrics)
        self._call("on_validation_end")
        return metrics
