"""Reports of an evaluation: the text table of a :class:`~isicseg.evaluation.Summary` and the figures."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ..data.io import read_image
from ..inference import Answer
from ..labels import LabelScheme
from ..ops import masks_to_boxes
from .summary import CategoryScores, Summary

__all__ = ["OverlayPicker", "format_summary", "write_figures", "overlay_of", "write_answer_overlay"]

_OVERLAY_SIDE = 256
_COLUMNS = {
    f.name: label
    for f, label in zip(
        dataclasses.fields(CategoryScores), ("auc", "ap", "acc", "sens", "spec", "prec", "sp@82", "sp@89", "sp@95")
    )
}


def _fmt(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def format_summary(summary: Summary) -> str:
    """A readable table of a summary, for the command line and logs."""
    lines = [f"Images: {summary.n_images}   label scheme: {summary.label_scheme or '-'}"]
    if summary.reference_report is not None:
        ref = summary.reference_report
        lines.append(
            f"Reference report  mean box IoU {_fmt(ref.mean_box_iou)}  melanoma precision "
            f"{_fmt(ref.melanoma_precision)}  "
            f"melanoma recall {_fmt(ref.melanoma_recall)}"
        )
    lines.append("ISIC Part 1       " + "  ".join(f"{k} {_fmt(v)}" for k, v in summary.segmentation.items()))
    lines.append(f"ISIC Part 3       mean AUC {_fmt(summary.mean_auc)}")
    lines.append(f"  {'category':<22}" + "".join(f"{label:>10}" for label in _COLUMNS.values()))
    for category, scores in summary.categories.items():
        if scores is None:
            lines.append(f"  {category:<22}  n/a (not scored: not told apart by this label scheme)")
        else:
            lines.append(f"  {category:<22}" + "".join(f"{_fmt(getattr(scores, name)):>10}" for name in _COLUMNS))
    if summary.coco is not None:
        lines.append("COCO              " + "  ".join(f"{k} {_fmt(v)}" for k, v in summary.coco.items()))
    if summary.intervals:
        spans = "  ".join(
            f"{name.replace('_average_precision', ' ap').replace('_auc', ' auc')} {_fmt(low)}-{_fmt(high)}"
            for name, (low, high) in summary.intervals.items()
        )
        lines.append(f"95% intervals     {spans}   ({summary.interval_method})")
    return "\n".join(lines)


def shrink_answer(answer: Answer, truth: np.ndarray) -> tuple[Answer, np.ndarray]:
    """Answer and true mask scaled to at most 256 px (what an overlay shows), to keep in memory."""
    scale = _OVERLAY_SIDE / max(truth.shape)
    size = (max(1, round(truth.shape[1] * scale)), max(1, round(truth.shape[0] * scale)))

    def small(mask: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(mask.astype(np.uint8)).resize(size, Image.Resampling.NEAREST)) > 0

    box = None if answer.box is None else tuple(v * scale for v in answer.box)
    return Answer(
        answer.image_id, small(answer.mask), box, answer.label, answer.score, answer.probabilities, {}
    ), small(truth)


class OverlayPicker:
    """Picks the images of the overlay grid while answers stream past: the worst half
    (rounded up) and the best half of ``count`` by Jaccard, each kept shrunk to 256 px.

    Example:
        >>> picker = OverlayPicker(0)  # no grid: nothing is kept
        >>> picker.add(None, None, None, 0.5); picker.overlays(None)
        []
    """

    def __init__(self, count: int) -> None:
        self.count = int(count)
        self._kept: list[tuple[float, Any, tuple[Answer, np.ndarray]]] = []

    def add(self, record: Any, answer: Answer, truth: np.ndarray, jaccard: float) -> None:
        """Consider one answer (``truth``: its true mask at the original size)."""
        if self.count:
            self._kept.append((jaccard, record, shrink_answer(answer, truth)))

    def overlays(self, label_scheme: LabelScheme) -> list[Any]:
        """The :class:`~isicseg.viz.Overlay` of each chosen image, worst first, then the best."""
        kept = sorted(self._kept, key=lambda c: c[0])
        worst = self.count - self.count // 2
        chosen = kept if len(kept) <= self.count else kept[:worst] + kept[len(kept) - self.count // 2 :]
        return [overlay_of(record, answer, truth, label_scheme, jaccard) for jaccard, record, (answer, truth) in chosen]


def overlay_of(record: Any, answer: Answer, truth: np.ndarray, label_scheme: LabelScheme, jaccard: float):
    """The :class:`~isicseg.viz.Overlay` of one answer (its image read at the mask's size)."""
    from ..viz import Overlay

    true_box = masks_to_boxes(torch.from_numpy(truth)[None])[0].tolist() if truth.any() else None
    name = label_scheme.class_names[answer.label] if answer.label else "none"
    return Overlay(
        read_image(record.image_path, truth.shape),
        f"{record.image_id} ({record.diagnosis}) J={jaccard:.2f}",
        truth,
        true_box,
        answer.mask,
        answer.box,
        f"predicted {name} {answer.score:.2f}",
    )


def write_figures(
    per_image: pd.DataFrame, label_scheme: LabelScheme, categories: Sequence[str], overlays: list, folder: Path
) -> None:
    """Jaccard box plot, ROC curves of ``categories``, confusion matrix and (if any) the overlay grid, as PNGs in
    ``folder``."""
    from .. import viz

    viz.plot_jaccard_boxplot(per_image["jaccard"].tolist(), folder / "jaccard_boxplot.png")
    viz.plot_roc_curves(
        {c: (per_image[f"is_{c}"].tolist(), per_image[f"p_{c}"].tolist()) for c in categories},
        folder / "roc_curves.png",
        band=True,
    )
    viz.plot_confusion_matrix(
        per_image["true_label"].tolist(),
        per_image["predicted_label"].tolist(),
        class_names=label_scheme.class_names,
        path=folder / "confusion_matrix.png",
    )
    if overlays:
        viz.plot_overlays(overlays, folder / "overlays.png")


def write_answer_overlay(image_path: Path, answer: Answer, caption: str, path: Path) -> Path:
    """One overlay PNG of an answer on its image (what ``isicseg predict`` writes per image).

    The image is decoded at a reduced scale (:data:`~isicseg.viz.OVERLAY_SIDE`), not at full
    resolution, and drawn with Pillow (:func:`~isicseg.viz.draw_overlay`).
    """
    from ..viz import OVERLAY_SIDE, Overlay, draw_overlay

    image = read_image(image_path, OVERLAY_SIDE if min(answer.mask.shape) > OVERLAY_SIDE else None)
    return draw_overlay(
        Overlay(image, answer.image_id, pred_mask=answer.mask, pred_box=answer.box, caption=caption), path
    )
