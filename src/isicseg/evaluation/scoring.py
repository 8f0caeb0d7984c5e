"""Scoring answers: one per-image row from an answer and its true mask, the ISIC
evaluator the Trainer uses, and COCO mAP (pycocotools)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.dataset import ISIC2017Dataset
from ..exceptions import ConfigError
from ..inference import Answer, InferenceConfig, answer_from_detections, detect
from ..labels import CATEGORIES, LabelScheme
from ..metrics import box_iou, segmentation_scores
from ..ops import masks_to_boxes
from .summary import flat_metrics, summarize

__all__ = ["segmentation_row", "score_row", "score_answer", "IsicEvaluator", "coco_map"]


def segmentation_row(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Every per-image segmentation score of one mask, as plain floats."""
    return {name: float(value) for name, value in segmentation_scores(pred, target).items()}


def score_row(answer: Answer, truth: np.ndarray, *, diagnosis: str, label_scheme: LabelScheme) -> dict[str, Any]:
    """The per-image row of one answer (the columns :func:`~isicseg.evaluate` documents).

    Args:
        answer: The model's answer at the image's original size.
        truth: The true mask, same size.
        diagnosis: The image's true diagnosis (``melanoma``, ``seborrheic_keratosis`` or ``nevus``).
        label_scheme: The label scheme of the answer.
    """
    true_box = masks_to_boxes(torch.from_numpy(truth)[None])[0] if truth.any() else None
    iou = float(box_iou([answer.box], [true_box.tolist()])) if answer.box is not None and true_box is not None else 0.0
    true_label = label_scheme.label_of(diagnosis)
    return {
        "image_id": answer.image_id,
        **segmentation_row(answer.mask, truth),
        "box_iou": iou,
        "true_label": true_label,
        "true_class": label_scheme.class_names[true_label],
        "predicted_label": answer.label,
        "predicted_class": label_scheme.class_names[answer.label] if answer.label else "none",
        "score": answer.score,
        **{f"p_{c}": answer.probabilities[c] for c in CATEGORIES},
        **{f"is_{c}": int(diagnosis == c) for c in CATEGORIES},
    }


def score_answer(dataset: ISIC2017Dataset, index: int, answer: Answer) -> tuple[np.ndarray, dict[str, Any]]:
    """Item ``index``'s true mask at the original size (:meth:`~isicseg.ISIC2017Dataset.true_mask`)
    and the per-image row of ``answer`` to it (:func:`score_row`)."""
    truth = dataset.true_mask(index)
    return truth, score_row(
        answer, truth, diagnosis=dataset.records[index].diagnosis, label_scheme=dataset.label_scheme
    )


class IsicEvaluator:
    """The ISIC 2017 scores as a Trainer evaluator (see :mod:`isicseg.engine.validation`).

    Each image's answer is made and scored as :func:`~isicseg.evaluate` makes and scores
    it (with the same :class:`~isicseg.InferenceConfig`; against its mask at the original
    resolution); :meth:`summarize` gives :func:`flat_metrics` of the summary (``jaccard``,
    ``melanoma_auc``, ``mean_auc``, ...). A Trainer validating on ISIC data uses one with the
    defaults (see :func:`~isicseg.engine.validation.register_default_evaluator`);
    ``isicseg train`` gives it the run's (:attr:`~isicseg.config.RunConfig.inference`), so that
    ``best.pt`` is chosen by the answers the final evaluation reports.

    Args:
        dataset: The validation dataset whose indices the rows refer to: an
            :class:`~isicseg.ISIC2017Dataset` (or HAM10000), or a ``Subset`` of one (its
            indices are mapped to the images they draw).
        config: How the model answers (TTA, clean-up, precision; default
            :class:`~isicseg.InferenceConfig`'s defaults). Its batch size and memory format
            are the Trainer's (``eval_batch_size``, ``channels_last``).
    """

    def __init__(
        self, dataset: ISIC2017Dataset | torch.utils.data.Subset, *, config: InferenceConfig | None = None
    ) -> None:
        self.config = InferenceConfig.or_default(config, "IsicEvaluator")
        self._chain: list[Sequence[int]] = []  # the index lists of the Subsets, outermost first
        while isinstance(dataset, torch.utils.data.Subset):
            self._chain.append(dataset.indices)
            dataset = dataset.dataset
        if not isinstance(dataset, ISIC2017Dataset):
            raise ConfigError(
                f"IsicEvaluator scores ISIC 2017 or HAM10000 data (or a Subset of it); got {type(dataset).__name__}."
            )
        self.dataset = dataset

    def _image(self, index: int) -> int:
        for indices in self._chain:
            index = int(indices[index])
        return index

    def predict(self, model: torch.nn.Module, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """The model's detections as :func:`~isicseg.evaluate` gets them (model in eval mode)."""
        return detect(
            model, images, tta=self.config.tta, precision=self.config.precision, answer_rule=self.config.answer_rule
        )

    def rows(
        self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]
    ) -> list[dict[str, Any]]:
        """One row per validation image of the batch."""
        rows = []
        for output, index in zip(outputs, indices):
            image = self._image(index)
            answer = answer_from_detections(
                output,
                self.dataset.label_scheme,
                image_id=self.dataset.records[image].image_id,
                original_height_and_width=self.dataset.original_height_and_width(image),
                postprocess=self.config.postprocess,
                answer_rule=self.config.answer_rule,
                mask_threshold=self.config.mask_threshold,
            )
            rows.append(score_answer(self.dataset, image, answer)[1])
        return rows

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        """The flat metrics of all rows (names without the ``val_`` prefix)."""
        table = pd.DataFrame(rows).drop(columns="index", errors="ignore")
        return flat_metrics(summarize(table, self.dataset.label_scheme), prefix="")


def coco_map(
    ground_truth: list[dict[str, Any]], detections: list[dict[str, Any]], *, class_names: Sequence[str]
) -> dict[str, float]:
    """COCO box and mask mAP with pycocotools.

    Args:
        ground_truth: Per image: ``{"image_id": int, "height", "width", "boxes" (N, 4)
            XYXY, "labels" (N,), "masks" (N, H, W)}``.
        detections: Per image: ``{"image_id": int, "boxes", "labels", "scores",
            "masks" (N, H, W) bool}``.
        class_names: Names by label; label 0 (background) is skipped.

    Returns:
        ``bbox_map``, ``bbox_map50``, ``segm_map``, ``segm_map50`` (0 when there is no
        detection at all).
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(mask: np.ndarray) -> dict[str, Any]:
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        encoded["counts"] = encoded["counts"].decode("ascii")
        return encoded

    def xywh(box: Sequence[float]) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    images, annotations = [], []
    for gt in ground_truth:
        images.append({"id": gt["image_id"], "height": gt["height"], "width": gt["width"]})
        for box, label, mask in zip(gt["boxes"], gt["labels"], gt["masks"]):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": gt["image_id"],
                    "category_id": int(label),
                    "bbox": xywh(box),
                    "area": float(mask.sum()),
                    "segmentation": rle(mask),
                    "iscrowd": 0,
                }
            )
    coco_gt = COCO()
    coco_gt.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for i, n in enumerate(class_names) if i],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
    results: dict[str, float] = {}
    for kind in ("bbox", "segm"):
        entries = []
        for det in detections:
            for j, (box, label, score) in enumerate(zip(det["boxes"], det["labels"], det["scores"])):
                entry = {"image_id": det["image_id"], "category_id": int(label), "score": float(score)}
                entry.update({"bbox": xywh(box)} if kind == "bbox" else {"segmentation": rle(det["masks"][j])})
                entries.append(entry)
        if not entries or not annotations:
            results[f"{kind}_map"], results[f"{kind}_map50"] = 0.0, 0.0
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(entries)
            evaluator = COCOeval(coco_gt, coco_dt, kind)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        results[f"{kind}_map"] = max(0.0, float(evaluator.stats[0]))
        results[f"{kind}_map50"] = max(0.0, float(evaluator.stats[1]))
    return results
