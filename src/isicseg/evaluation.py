"""``evaluate``: run a model over an ISIC split and report every number users compare.

Scores follow the ISIC 2017 challenge: segmentation (Part 1) per image at the original
resolution, then averaged; classification (Part 3) from per-image probabilities. The
answer for each image is decided from the model's outputs alone (see
:mod:`isicseg.inference`), never by looking at the ground truth. The summary also holds
the reference report's three numbers (mean box IoU, melanoma precision and recall) and
COCO-style box and mask mAP from pycocotools.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .data.dataset import ISIC2017Dataset
from .data.io import read_image, read_mask
from .data.labels import LabelScheme, get_label_scheme
from .data.layout import read_ground_truth, split_paths
from .exceptions import DatasetError
from .inference import CATEGORIES, Answer, answer_from_detections, check_batch_size, detect
from .metrics import METRICS, SEGMENTATION_SCORES, binary_classification_scores, box_iou, segmentation_scores
from .ops import masks_to_boxes

__all__ = ["EvaluationResult", "evaluate", "predict_rows", "summarize", "score_submission", "format_summary", "coco_map", "flat_metrics", "metric_names", "IsicEvaluator"]


@dataclass
class EvaluationResult:
    """What :func:`~isicseg.evaluate` returns.

    Attributes:
        per_image: One row per image (see :func:`~isicseg.evaluate`).
        summary: Nested dict of dataset-level scores (``nan`` where undefined).
        out_dir: Where files were written, if anywhere.
    """

    per_image: pd.DataFrame
    summary: dict[str, Any]
    out_dir: Path | None = None


def _segmentation_row(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in segmentation_scores(pred, target).items()}


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def summarize(per_image: pd.DataFrame, scheme: str | LabelScheme, *, categories: Sequence[str] = CATEGORIES) -> dict[str, Any]:
    """Dataset-level scores from a per-image table (the columns :func:`~isicseg.evaluate` writes).

    Part 1 scores are means of the per-image scores. Part 3 scores use ``p_<category>``
    against ``is_<category>``; a category whose probabilities are ``nan`` (not told
    apart by the label scheme) is reported as ``nan``. The Part 3 ranking metric
    ``mean_auc`` is the mean of the melanoma and seborrheic keratosis AUCs.
    """
    scheme = get_label_scheme(scheme)
    needed = [*SEGMENTATION_SCORES, *(f"{prefix}_{c}" for c in categories for prefix in ("p", "is"))]
    missing = [c for c in needed if c not in per_image]
    if missing:
        raise ValueError(
            f"summarize needs the per-image columns evaluate() writes; this table lacks {', '.join(missing)} "
            f"(it has {', '.join(map(str, per_image.columns)) or 'no columns'})."
        )
    summary: dict[str, Any] = {"n_images": len(per_image), "label_scheme": scheme.name}
    summary["part1"] = {c: _mean(per_image[c].tolist()) for c in SEGMENTATION_SCORES}
    summary["part1"].update({c: _mean(per_image[c].tolist()) for c in METRICS.names() if c in per_image and c not in SEGMENTATION_SCORES})
    part3: dict[str, Any] = {}
    for category in categories:
        probabilities = per_image[f"p_{category}"].to_numpy(float)
        if np.isnan(probabilities).any() or len(probabilities) == 0:
            part3[category] = None
        else:
            part3[category] = binary_classification_scores(per_image[f"is_{category}"].to_numpy(int), probabilities)
    aucs = [part3[c]["auc"] if part3.get(c) else float("nan") for c in CATEGORIES]
    part3["mean_auc"] = float(np.mean(aucs))
    summary["part3"] = part3
    if "box_iou" in per_image:
        melanoma = scheme.label_of("melanoma")
        predicted = per_image["predicted_label"].to_numpy() == melanoma
        actual = per_image["is_melanoma"].to_numpy(bool)
        tp = int((predicted & actual).sum())
        summary["reference_report"] = {
            "mean_box_iou": _mean(per_image["box_iou"].tolist()),
            "melanoma_precision": tp / int(predicted.sum()) if predicted.any() else 0.0,
            "melanoma_recall": tp / int(actual.sum()) if actual.any() else float("nan"),
        }
    return summary


def coco_map(ground_truth: list[dict[str, Any]], detections: list[dict[str, Any]], class_names: Sequence[str]) -> dict[str, float]:
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
                {"id": len(annotations) + 1, "image_id": gt["image_id"], "category_id": int(label), "bbox": xywh(box),
                 "area": float(mask.sum()), "segmentation": rle(mask), "iscrowd": 0}
            )
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": i, "name": n} for i, n in enumerate(class_names) if i]}
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


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_mask_png(mask: np.ndarray, path: Path) -> None:
    """Write a bool mask as an ISIC 8-bit PNG (0 and 255)."""
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    dataset: ISIC2017Dataset,
    *,
    out_dir: str | Path | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    figures: bool = True,
    max_overlays: int = 8,
    tta: bool = False,
    postprocess: bool = False,
) -> EvaluationResult:
    """Evaluate a model on an ISIC 2017 split.

    Args:
        model: A Mask R-CNN trained with ``dataset``'s label scheme.
        dataset: The split to evaluate. Its own ``transforms`` are not applied; images
            are read at its ``image_size``.
        out_dir: If given, write ``per_image.csv``, ``summary.json``, the ISIC submission
            (``masks/ISIC_nnnnnnn_segmentation.png`` at the original size and
            ``classification.csv`` with ``image_id,melanoma,seborrheic_keratosis``) and
            ``figures/`` there.
        batch_size: Images per forward pass.
        device: Where to run (default: the model's device).
        figures: Write figures (needs ``out_dir``).
        max_overlays: Images in the overlay grid.
        tta: Average over each image and its mirror image (see :func:`isicseg.inference.detect`).
        postprocess: Keep the largest component of each mask, holes filled (see
            :func:`isicseg.inference.clean_mask`).

    Returns:
        The per-image table (``image_id``, the six Part 1 scores, ``box_iou``,
        ``true_label``, ``true_class``, ``predicted_label``, ``predicted_class``, ``score``,
        ``p_melanoma``, ``p_seborrheic_keratosis``, ``is_melanoma``,
        ``is_seborrheic_keratosis``) and the summary (see :func:`~isicseg.evaluation.summarize`, plus ``coco``).

    Example:
        >>> from isicseg import ISIC2017Dataset, build_mask_rcnn, write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"test": 2}, image_size=(64, 80))
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=80)
        >>> result = evaluate(model, ISIC2017Dataset(root, "test"))
        >>> list(result.per_image.columns[:3]), sorted(result.summary)[:3]
        (['image_id', 'jaccard', 'dice'], ['coco', 'label_scheme', 'n_images'])
    """
    check_batch_size(batch_size)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        for owned in ("masks", "figures"):  # files of an earlier run would mix with these
            shutil.rmtree(out / owned, ignore_errors=True)
        (out / "masks").mkdir(parents=True, exist_ok=True)
    rows, coco_gt, coco_dt, overlays = predict_rows(
        model, dataset, range(len(dataset)), batch_size=batch_size, device=device, masks_dir=out / "masks" if out else None,
        coco=True, max_overlays=max_overlays if out is not None and figures else 0, tta=tta, postprocess=postprocess,
    )
    scheme = dataset.label_scheme
    per_image = pd.DataFrame(rows).drop(columns="index")
    summary = summarize(per_image, scheme)
    summary["coco"] = coco_map(coco_gt, coco_dt, scheme.class_names)
    if out is not None:
        per_image.to_csv(out / "per_image.csv", index=False)
        submission = pd.DataFrame(
            {"image_id": per_image["image_id"], **{c: per_image[f"p_{c}"].fillna(0.0) for c in CATEGORIES}}
        )
        submission.to_csv(out / "classification.csv", index=False)
        (out / "summary.json").write_text(json.dumps(_json_ready(summary), indent=2) + "\n")
        if figures:
            plotted = [c for c in CATEGORIES if len(per_image) and not per_image[f"p_{c}"].isna().any()]
            _figures(per_image, scheme, plotted, overlays, out / "figures")
    return EvaluationResult(per_image, summary, out)


@torch.inference_mode()
def predict_rows(
    model: torch.nn.Module,
    dataset: ISIC2017Dataset,
    indices: Sequence[int],
    *,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    masks_dir: Path | None = None,
    coco: bool = False,
    max_overlays: int = 0,
    tta: bool = False,
    postprocess: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Per-image rows (and COCO inputs, overlays) for some items of ``dataset``; the
    building block of :func:`~isicseg.evaluate` and of distributed validation.

    The ``max_overlays`` overlays show the images with the lowest Jaccard, then those
    with the highest."""
    scheme = dataset.label_scheme
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    transforms, dataset.transforms = dataset.transforms, None
    rows: list[dict[str, Any]] = []
    coco_gt: list[dict[str, Any]] = []
    coco_dt: list[dict[str, Any]] = []
    candidates: list[tuple[float, Any, tuple[Answer, np.ndarray]]] = []
    indices = list(indices)
    try:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            items = [dataset[i] for i in chunk]
            outputs = detect(model, [image.as_subclass(torch.Tensor).to(device) for image, _ in items], tta=tta)
            for index, (image, target), output in zip(chunk, items, outputs):
                output = {k: v.cpu() for k, v in output.items()}
                record = dataset.records[index]
                answer, truth, row = _score_output(dataset, index, output, postprocess)
                rows.append({"index": index, **row})
                if masks_dir is not None:
                    write_mask_png(answer.mask, masks_dir / f"{record.image_id}_segmentation.png")
                if coco:
                    coco_gt.append({"image_id": index + 1, "height": image.shape[-2], "width": image.shape[-1],
                                    "boxes": target["boxes"].tolist(), "labels": target["labels"].tolist(), "masks": target["masks"].numpy().astype(bool)})
                    coco_dt.append({"image_id": index + 1, "boxes": output["boxes"].tolist(), "labels": output["labels"].tolist(),
                                    "scores": output["scores"].tolist(), "masks": (output["masks"][:, 0] > 0.5).numpy()})
                if max_overlays:
                    candidates.append((rows[-1]["jaccard"], record, _shrink_answer(answer, truth)))
    finally:
        dataset.transforms = transforms
    # the worst half and the best half of the overlay grid, by Jaccard (worst first)
    candidates.sort(key=lambda c: c[0])
    worst = max_overlays - max_overlays // 2
    chosen = candidates if len(candidates) <= max_overlays else candidates[:worst] + candidates[len(candidates) - max_overlays // 2 :]
    overlays = [_overlay(record, answer, truth, scheme, jaccard) for jaccard, record, (answer, truth) in chosen]
    return rows, coco_gt, coco_dt, overlays


def _score_output(dataset: ISIC2017Dataset, index: int, output: dict[str, torch.Tensor], postprocess: bool = False) -> tuple[Answer, np.ndarray, dict[str, Any]]:
    """The answer to one image of ``dataset``, its true mask at the original size, and its per-image row."""
    record = dataset.records[index]
    width, height = dataset.original_size(index)
    answer = answer_from_detections(output, dataset.label_scheme, record.image_id, (height, width), postprocess=postprocess)
    truth = read_mask(record.mask_path, (width, height), binarize=dataset.binarize_masks, image_path=record.image_path).astype(bool)
    return answer, truth, _row(answer, truth, record.diagnosis, dataset.label_scheme)


class IsicEvaluator:
    """The ISIC 2017 scores as a Trainer evaluator (see :mod:`isicseg.engine.validation`).

    Each image's answer is scored against its mask at the original resolution, as
    :func:`~isicseg.evaluate` does; :meth:`summarize` gives :func:`flat_metrics` of the summary
    (``jaccard``, ``melanoma_auc``, ``mean_auc``, ...). It is what
    ``ISIC2017Dataset.default_evaluator()`` returns, so a Trainer validating on an ISIC
    dataset logs ``val_jaccard`` and the rest without being told.

    Args:
        dataset: The validation dataset whose indices the rows refer to.
    """

    def __init__(self, dataset: ISIC2017Dataset) -> None:
        self.dataset = dataset

    def rows(self, outputs: Sequence[dict[str, torch.Tensor]], targets: Sequence[dict[str, Any]], indices: Sequence[int]) -> list[dict[str, Any]]:
        return [_score_output(self.dataset, index, output)[2] for output, index in zip(outputs, indices)]

    def summarize(self, rows: list[dict[str, Any]]) -> dict[str, float]:
        table = pd.DataFrame(rows).drop(columns="index", errors="ignore")
        return flat_metrics(summarize(table, self.dataset.label_scheme), prefix="")


def _row(answer: Answer, truth: np.ndarray, diagnosis: str, scheme: LabelScheme) -> dict[str, Any]:
    true_box = masks_to_boxes(torch.from_numpy(truth)[None])[0] if truth.any() else None
    iou = float(box_iou([answer.box], [true_box.tolist()])) if answer.box is not None and true_box is not None else 0.0
    true_label = scheme.label_of(diagnosis)
    return {
        "image_id": answer.image_id,
        **_segmentation_row(answer.mask, truth),
        "box_iou": iou,
        "true_label": true_label,
        "true_class": scheme.class_names[true_label],
        "predicted_label": answer.label,
        "predicted_class": scheme.class_names[answer.label] if answer.label else "none",
        "score": answer.score,
        **{f"p_{c}": answer.probabilities[c] for c in CATEGORIES},
        **{f"is_{c}": int(diagnosis == c) for c in CATEGORIES},
    }


_OVERLAY_SIDE = 256


def _shrink_answer(answer: Answer, truth: np.ndarray) -> tuple[Answer, np.ndarray]:
    """Answer and true mask scaled to at most 256 px (what an overlay shows), to keep in memory."""
    scale = _OVERLAY_SIDE / max(truth.shape)
    size = (max(1, round(truth.shape[1] * scale)), max(1, round(truth.shape[0] * scale)))
    small = lambda m: np.asarray(Image.fromarray(m.astype(np.uint8)).resize(size, Image.Resampling.NEAREST)) > 0  # noqa: E731
    box = None if answer.box is None else tuple(v * scale for v in answer.box)
    return Answer(answer.image_id, small(answer.mask), box, answer.label, answer.score, answer.probabilities, {}), small(truth)


def _overlay(record, answer: Answer, truth: np.ndarray, scheme: LabelScheme, jaccard: float):
    from .viz import Overlay

    true_box = masks_to_boxes(torch.from_numpy(truth)[None])[0].tolist() if truth.any() else None
    name = scheme.class_names[answer.label] if answer.label else "none"
    return Overlay(
        read_image(record.image_path, truth.shape),
        f"{record.image_id} ({record.diagnosis}) J={jaccard:.2f}",
        truth,
        true_box,
        answer.mask,
        answer.box,
        f"predicted {name} {answer.score:.2f}",
    )


def _figures(per_image: pd.DataFrame, scheme: LabelScheme, categories: Sequence[str], overlays: list, folder: Path) -> None:
    from . import viz

    viz.plot_jaccard_boxplot(per_image["jaccard"].tolist(), folder / "jaccard_boxplot.png")
    viz.plot_roc_curves({c: (per_image[f"is_{c}"].tolist(), per_image[f"p_{c}"].tolist()) for c in categories}, folder / "roc_curves.png")
    viz.plot_confusion_matrix(per_image["true_label"].tolist(), per_image["predicted_label"].tolist(), scheme.class_names, folder / "confusion_matrix.png")
    if overlays:
        viz.plot_overlays(overlays, folder / "overlays.png")


def score_submission(
    masks_dir: str | Path,
    classification_csv: str | Path | None,
    data_root: str | Path,
    split: str,
    *,
    categories: Sequence[str] = CATEGORIES,
) -> dict[str, Any]:
    """Score ISIC 2017 submission files against the ground truth on disk.

    Args:
        masks_dir: Folder of ``ISIC_nnnnnnn_segmentation.png`` files (foreground > 128),
            one per image of the split, each at its image's size.
        classification_csv: ``image_id,melanoma,seborrheic_keratosis`` probabilities, or
            ``None`` to score segmentation only.
        data_root: The data root holding the split's ground truth.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        categories: Categories to score in Part 3.

    Returns:
        ``{"n_images", "part1": {...}, "part3": {...}}`` as in :func:`summarize`.

    Raises:
        DatasetError: If a mask or CSV row is missing or a mask has the wrong size.
    """
    paths = split_paths(data_root, split)
    truth = read_ground_truth(paths.csv)
    masks_dir = Path(masks_dir)
    rows = []
    for image_id, diagnosis in truth.items():
        gt_path = paths.mask_of(image_id)
        with Image.open(gt_path) as gt_file:
            expected = gt_file.size
        submitted = masks_dir / f"{image_id}_segmentation.png"
        if not submitted.is_file():
            raise DatasetError(f"The submission lacks {submitted}; expected one mask per image of {paths.csv}.")
        pred = read_mask(submitted, expected, binarize=True, image_path=gt_path).astype(bool)
        rows.append({"image_id": image_id, **_segmentation_row(pred, read_mask(gt_path, binarize=True).astype(bool)),
                     **{f"is_{c}": int(diagnosis == c) for c in CATEGORIES}})
    per_image = pd.DataFrame(rows)
    if classification_csv is not None:
        probabilities = pd.read_csv(classification_csv, dtype={"image_id": str}).set_index("image_id")
        missing = sorted(set(per_image["image_id"]) - set(probabilities.index))
        if missing:
            raise DatasetError(f"{classification_csv} has no row for {len(missing)} images (e.g. {missing[0]}).")
        for c in CATEGORIES:
            per_image[f"p_{c}"] = probabilities.loc[per_image["image_id"], c].to_numpy(float) if c in categories else np.nan
    else:
        for c in CATEGORIES:
            per_image[f"p_{c}"] = np.nan
    summary = summarize(per_image, "three_class", categories=categories)
    summary.pop("label_scheme")
    return summary


def flat_metrics(summary: dict[str, Any], prefix: str = "val_") -> dict[str, float]:
    """The headline numbers of a summary as a flat dict (``val_jaccard``,
    ``val_melanoma_auc``, ``val_mean_auc``, ...), for logging and monitoring."""
    flat = {f"{prefix}{k}": float(v) for k, v in summary["part1"].items()}
    for category in CATEGORIES:
        scores = summary["part3"].get(category)
        flat[f"{prefix}{category}_auc"] = float(scores["auc"]) if scores else float("nan")
    flat[f"{prefix}mean_auc"] = float(summary["part3"]["mean_auc"])
    for key, value in summary.get("reference_report", {}).items():
        flat[f"{prefix}{key}"] = float(value)
    for key, value in summary.get("coco", {}).items():
        flat[f"{prefix}{key}"] = float(value)
    return flat


def metric_names(prefix: str = "val_") -> list[str]:
    """Every name :func:`flat_metrics` can log, e.g. to check a ``monitor`` before training.

    Example:
        >>> "val_melanoma_auc" in metric_names()
        True
    """
    names = [*SEGMENTATION_SCORES, *(n for n in METRICS.names() if n not in SEGMENTATION_SCORES)]
    names += [f"{c}_auc" for c in CATEGORIES] + ["mean_auc", "mean_box_iou", "melanoma_precision", "melanoma_recall"]
    names += [f"{kind}_{m}" for kind in ("bbox", "segm") for m in ("map", "map50")]
    return [prefix + n for n in names]


def format_summary(summary: dict[str, Any]) -> str:
    """A readable table of a summary, for the command line."""

    def fmt(value: Any) -> str:
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"

    lines = [f"Images: {summary.get('n_images')}   label scheme: {summary.get('label_scheme', '-')}"]
    if "reference_report" in summary:
        ref = summary["reference_report"]
        lines.append("Reference report  mean box IoU {}  melanoma precision {}  melanoma recall {}".format(
            fmt(ref["mean_box_iou"]), fmt(ref["melanoma_precision"]), fmt(ref["melanoma_recall"])))
    part1 = summary["part1"]
    lines.append("ISIC Part 1       " + "  ".join(f"{k} {fmt(v)}" for k, v in part1.items()))
    lines.append(f"ISIC Part 3       mean AUC {fmt(summary['part3'].get('mean_auc'))}")
    header = f"  {'category':<22}" + "".join(f"{k:>10}" for k in ("auc", "ap", "acc", "sens", "spec", "prec", "sp@82", "sp@89", "sp@95"))
    lines.append(header)
    for category in CATEGORIES:
        scores = summary["part3"].get(category)
        if scores is None:
            lines.append(f"  {category:<22}  n/a (not told apart by this label scheme)")
            continue
        keys = ("auc", "average_precision", "accuracy", "sensitivity", "specificity", "precision", "spec_at_sens_82", "spec_at_sens_89", "spec_at_sens_95")
        lines.append(f"  {category:<22}" + "".join(f"{fmt(scores[k]):>10}" for k in keys))
    if "coco" in summary:
        lines.append("COCO              " + "  ".join(f"{k} {fmt(v)}" for k, v in summary["coco"].items()))
    return "\n".join(lines)
