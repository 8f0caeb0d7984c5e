"""Validation metrics as a plug-in of the :class:`~isicseg.Trainer`.

An *evaluator* turns the model's eval-mode outputs on the validation images into
metrics, in two steps so that distributed validation gives the numbers a single process
would: :meth:`Evaluator.rows` makes one plain dict per image (on each process, for its
share of the images), the Trainer gathers the rows of all processes in image order, and
:meth:`Evaluator.summarize` reduces them to named numbers (logged with a ``val_``
prefix). Each validation batch's outputs are seen once.

The Trainer takes its evaluator from, in order: ``Trainer(evaluator=...)``; the
validation dataset's ``default_evaluator()`` method, if it has one
(:class:`~isicseg.ISIC2017Dataset`'s gives the ISIC 2017 scores); else
:class:`~isicseg.engine.validation.DetectionEvaluator`, which needs nothing but torchvision's detection contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torchvision.ops import box_iou

__all__ = ["Evaluator", "DetectionEvaluator"]


@runtime_checkable
class Evaluator(Protocol):
    """What the Trainer needs of an evaluator."""

    def rows(self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[dict[str, Any]]:
        """One dict per image: the model's eval-mode ``outputs`` (on the CPU), the dataset's
        ``targets`` and the images' indices in the validation dataset."""
        ...

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        """Metrics from the rows of all validation images, in index order."""
        ...


class DetectionEvaluator:
    """Mean IoU of the top-scoring detection's mask and box with the target's instances.

    For any dataset in torchvision's detection contract (targets with ``masks`` and
    ``boxes``): the top detection's mask (probability > 0.5) against the union of the
    target's masks, and its box against the target box it overlaps most. An image
    without a detection scores 0; an image without a target instance scores 1 when
    nothing is detected, else 0.

    Example:
        >>> output = {"scores": torch.tensor([0.9]), "boxes": torch.tensor([[0.0, 0, 2, 2]]), "masks": torch.ones(1, 1, 2, 2)}
        >>> target = {"boxes": torch.tensor([[0.0, 0, 2, 2]]), "masks": torch.ones(1, 2, 2, dtype=torch.uint8)}
        >>> evaluator = DetectionEvaluator()
        >>> evaluator.summarize(evaluator.rows([output], [target], [0]))
        {'mask_iou': 1.0, 'box_iou': 1.0}
    """

    def rows(self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[dict[str, Any]]:
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
        return {"mask_iou": mask_iou, "box_iou": float(box_iou(output["boxes"][top : top + 1].float(), truth_boxes).max())}

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        if not rows:
            return {"mask_iou": float("nan"), "box_iou": float("nan")}
        return {key: sum(row[key] for row in rows) / len(rows) for key in ("mask_iou", "box_iou")}
