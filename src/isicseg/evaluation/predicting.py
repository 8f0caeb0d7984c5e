"""Predicting over an ISIC dataset: the model's answer and per-image row for each item.

Nothing here writes a file: :func:`~isicseg.evaluate` writes masks, CSVs and figures in
one place, from the answers this hands it one at a time (``on_answer``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from .._devices import resolve_device, resolve_precision
from ..data.dataset import ISIC2017Dataset
from ..inference import Answer, ImageToAnswer, InferenceConfig, answer_images
from ..logs import Progress
from ..ops import collate
from .scoring import score_answer

__all__ = ["OnAnswer", "Predictions", "predict_rows"]


@dataclass
class Predictions:
    """What :func:`predict_rows` returns.

    Attributes:
        rows: One per-image row per item (with its dataset ``index``), in the order asked.
        coco_ground_truth: The inputs of :func:`~isicseg.evaluation.coco_map` (empty unless ``coco=True``).
        coco_detections: Likewise, the model's detections.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    coco_ground_truth: list[dict[str, Any]] = field(default_factory=list)
    coco_detections: list[dict[str, Any]] = field(default_factory=list)


OnAnswer = Callable[[int, Answer, np.ndarray, dict[str, Any]], None]
"""``on_answer(index, answer, true_mask, row)``: called by :func:`predict_rows` for each item
as soon as it is answered and scored, with the full-resolution true mask (so that a
caller can write or keep what it needs without holding every answer in memory)."""


def _untransformed(dataset: ISIC2017Dataset) -> ISIC2017Dataset:
    """A shallow copy of ``dataset`` that reads images without its ``transforms`` (the caller's object is left
    alone)."""
    view = copy.copy(dataset)
    view.transforms = None
    return view


def predict_rows(
    model: torch.nn.Module,
    dataset: ISIC2017Dataset,
    *,
    config: InferenceConfig | None = None,
    indices: Sequence[int] | None = None,
    num_workers: int = 0,
    device: str | torch.device | None = None,
    coco: bool = False,
    on_answer: OnAnswer | None = None,
) -> Predictions:
    """Answer and score some items of ``dataset`` (all by default): the building block of
    :func:`~isicseg.evaluate`.

    Images are read at the dataset's ``image_size`` without its ``transforms`` (augmentation),
    through a :class:`~torch.utils.data.DataLoader`, and answered by
    :func:`~isicseg.inference.answer_images` (the loop of :func:`~isicseg.predict`); answers
    are scored against the true masks at the original size. Progress lines go to the
    ``isicseg`` logger (see :class:`~isicseg.logs.Progress`).

    Args:
        model: A Mask R-CNN trained with ``dataset``'s label scheme (prepared here by ``config``).
        dataset: The ISIC split.
        config: How the model answers (batch size, TTA, clean-up, precision ...; default
            :class:`~isicseg.InferenceConfig`'s defaults).
        indices: Items to predict, in order.
        num_workers: DataLoader worker processes reading images.
        device: Where to run (default: the model's device).
        coco: Also collect the inputs of :func:`~isicseg.evaluation.coco_map`.
        on_answer: Called with each item's index, answer, full-resolution true mask and row
            (see :data:`OnAnswer`); :func:`~isicseg.evaluate` writes its submission masks and
            picks its overlays there.
    """
    config = InferenceConfig.or_default(config, "predict_rows")
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    resolve_precision(config.precision, device)
    config.prepare(model)
    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    loader = DataLoader(
        Subset(_untransformed(dataset), indices),
        batch_size=config.batch_size,
        num_workers=num_workers,
        collate_fn=collate,
    )
    result = Predictions()
    progress = Progress("predict", len(indices), unit="image")

    def images():
        items = (item for images, targets in loader for item in zip(images, targets))
        for index, (image, target) in zip(indices, items):
            yield ImageToAnswer(
                image,
                dataset.records[index].image_id,
                dataset.original_height_and_width(index),
                (index, image.shape[-2:], target),
            )

    for (index, shape, target), answer in answer_images(
        model, images(), label_scheme=dataset.label_scheme, config=config, device=device
    ):
        truth, row = score_answer(dataset, index, answer)
        result.rows.append({"index": index, **row})
        if on_answer is not None:
            on_answer(index, answer, truth, row)
        if coco:
            output = answer.detections
            result.coco_ground_truth.append(
                {
                    "image_id": index + 1,
                    "height": shape[0],
                    "width": shape[1],
                    "boxes": target["boxes"].tolist(),
                    "labels": target["labels"].tolist(),
                    "masks": target["masks"].numpy().astype(bool),
                }
            )
            result.coco_detections.append(
                {
                    "image_id": index + 1,
                    "boxes": output["boxes"].tolist(),
                    "labels": output["labels"].tolist(),
                    "scores": output["scores"].tolist(),
                    "masks": (output["masks"][:, 0] > 0.5).numpy(),
                }
            )
        progress.update()
    return result
