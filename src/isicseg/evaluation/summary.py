"""Dataset-level scores as typed objects: :func:`~isicseg.evaluation.summarize` turns a per-image table into a
:class:`Summary`.

Scores follow the ISIC 2017 challenge: Part 1 (segmentation) scores are means of the
per-image scores; Part 3 (classification) scores are computed from the per-image
probabilities of each category. ``nan`` marks what is undefined (e.g. an AUC with one
class only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..labels import CATEGORIES, LabelScheme, get_label_scheme
from ..metrics import METRICS, SEGMENTATION_SCORES, average_precision, binary_classification_scores, roc_auc
from ..metrics.intervals import INTERVAL_METHOD, bootstrap_interval, mean_interval

__all__ = ["CategoryScores", "ReferenceReport", "Summary", "summarize", "flat_metrics", "metric_names"]


@dataclass(frozen=True)
class CategoryScores:
    """ISIC 2017 Part 3 scores of one category (one against the rest).

    Attributes:
        auc: Area under the ROC curve (the challenge's ranking metric).
        average_precision: Area under the precision-recall curve.
        accuracy: Share of images labelled correctly at probability 0.5.
        sensitivity: Share of the category's images found at 0.5.
        specificity: Share of the other images rejected at 0.5.
        precision: Share of the images called the category at 0.5 that are.
        spec_at_sens_82: Specificity at 82% sensitivity (also 89% and 95%, as the challenge reports).
    """

    auc: float
    average_precision: float
    accuracy: float
    sensitivity: float
    specificity: float
    precision: float
    spec_at_sens_82: float
    spec_at_sens_89: float
    spec_at_sens_95: float


@dataclass(frozen=True)
class ReferenceReport:
    """The three numbers of the student report isicseg started from, computed honestly
    (on held-out images, from the model's own top answer).

    Attributes:
        mean_box_iou: Mean IoU of the answer's box with the tight box of the true mask.
        melanoma_precision: Share of images answered "melanoma" that are melanomas (0 when none is).
        melanoma_recall: Share of melanomas answered "melanoma".
    """

    mean_box_iou: float
    melanoma_precision: float
    melanoma_recall: float


@dataclass(frozen=True)
class Summary:
    """What :func:`summarize` returns: every dataset-level number of an evaluation.

    Attributes:
        n_images: Images scored.
        segmentation: ISIC Part 1: the mean of each per-image score, by name (the six of
            :data:`~isicseg.metrics.SEGMENTATION_SCORES`, then any metric registered in
            :data:`~isicseg.metrics.METRICS`).
        categories: ISIC Part 3 scores by category; ``None`` for a category that was not
            scored (not told apart by the label scheme, or not asked for).
        mean_auc: Mean AUC of the scored categories (the Part 3 ranking metric; ``nan``
            when one of them is not scored).
        label_scheme: Name of the label scheme of the answers, if known.
        reference_report: The reference report's numbers, when the table has boxes and labels.
        coco: COCO box and mask mAP (see :func:`~isicseg.evaluation.coco_map`), when computed.
        intervals: 95% intervals ``(low, high)`` of the mean Jaccard (``"jaccard"``) and of each
            scored category's AUC and average precision (``"melanoma_auc"``,
            ``"melanoma_average_precision"``, ...), when computed (see
            :mod:`isicseg.metrics.intervals`; the method is in ``interval_method``).
        interval_method: How ``intervals`` were computed.
    """

    n_images: int
    segmentation: dict[str, float]
    categories: dict[str, CategoryScores | None]
    mean_auc: float
    label_scheme: str | None = None
    reference_report: ReferenceReport | None = None
    coco: dict[str, float] | None = field(default=None)
    intervals: dict[str, tuple[float, float]] | None = field(default=None)
    interval_method: str | None = None

    @property
    def jaccard(self) -> float:
        """Mean Jaccard index (the ISIC 2017 Part 1 ranking metric)."""
        return self.segmentation["jaccard"]

    def auc(self, category: str) -> float:
        """AUC of ``category`` (``nan`` when it was not scored)."""
        scores = self.categories.get(category)
        return scores.auc if scores is not None else float("nan")

    def replace(self, **changes: Any) -> Summary:
        """A copy with some fields changed (e.g. ``coco=``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data (``nan`` becomes ``None``), the layout of ``summary.json``:
        ``{"n_images", "label_scheme", "part1": {...}, "part3": {category: {...} | None, "mean_auc"},
        "reference_report", "coco", "intervals": {"method", name: [low, high]}}`` (the last four only when present)."""
        data: dict[str, Any] = {"n_images": self.n_images}
        if self.label_scheme is not None:
            data["label_scheme"] = self.label_scheme
        data["part1"] = dict(self.segmentation)
        data["part3"] = {c: dataclasses.asdict(s) if s is not None else None for c, s in self.categories.items()}
        data["part3"]["mean_auc"] = self.mean_auc
        if self.reference_report is not None:
            data["reference_report"] = dataclasses.asdict(self.reference_report)
        if self.coco is not None:
            data["coco"] = dict(self.coco)
        if self.intervals is not None:
            data["intervals"] = {"method": self.interval_method, **{k: list(v) for k, v in self.intervals.items()}}
        return _json_ready(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """The summary that :meth:`to_dict` wrote (e.g. a run's ``summary.json``, read with ``json.load``)."""
        nan = float("nan")
        number = lambda v: nan if v is None else float(v)  # noqa: E731
        part3 = dict(data["part3"])
        mean_auc = number(part3.pop("mean_auc", None))
        categories = {
            c: CategoryScores(**{k: number(v) for k, v in s.items()}) if s is not None else None
            for c, s in part3.items()
        }
        report = data.get("reference_report")
        coco = data.get("coco")
        intervals = dict(data["intervals"]) if data.get("intervals") is not None else None
        method = intervals.pop("method", None) if intervals is not None else None
        return cls(
            n_images=int(data["n_images"]),
            segmentation={k: number(v) for k, v in data["part1"].items()},
            categories=categories,
            mean_auc=mean_auc,
            label_scheme=data.get("label_scheme"),
            reference_report=ReferenceReport(**{k: number(v) for k, v in report.items()})
            if report is not None
            else None,
            coco={k: number(v) for k, v in coco.items()} if coco is not None else None,
            intervals={k: (number(v[0]), number(v[1])) for k, v in intervals.items()}
            if intervals is not None
            else None,
            interval_method=method,
        )


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def check_categories(categories: Sequence[str]) -> None:
    """Raise :class:`~isicseg.exceptions.ConfigError` unless ``categories`` are ISIC 2017 Part 3 categories."""
    if isinstance(categories, str) or any(c not in CATEGORIES for c in categories):
        raise ConfigError(
            f"categories must be some of {', '.join(CATEGORIES)} (or none, for Part 1 only); got {categories!r}."
        )


def summarize(
    per_image: pd.DataFrame,
    label_scheme: str | LabelScheme | None = None,
    *,
    categories: Sequence[str] = CATEGORIES,
    intervals: bool = False,
) -> Summary:
    """Dataset-level scores from a per-image table (the columns :func:`~isicseg.evaluate` writes).

    Args:
        per_image: One row per image: the Part 1 scores, and ``p_<category>`` and
            ``is_<category>`` for each category scored.
        label_scheme: Label scheme of the answers; with it (and ``box_iou``, ``predicted_label``
            columns) the reference report is computed too.
        categories: Categories to score in Part 3 (some of ``melanoma``, ``seborrheic_keratosis``;
            none for Part 1 only); one whose probabilities are ``nan`` (not told apart by the label scheme) is ``None``.
        intervals: Also compute the 95% intervals of the mean Jaccard and of each AUC and
            average precision (stratified bootstrap, :mod:`isicseg.metrics.intervals`; about
            a second for 600 images).

    Example:
        >>> table = pd.DataFrame({"jaccard": [1.0, 0.5], "dice": [1.0, 0.6], "thresholded_jaccard": [1.0, 0.0],
        ...     "pixel_accuracy": [1.0, 0.9], "pixel_sensitivity": [1.0, 0.8], "pixel_specificity": [1.0, 0.95],
        ...     "p_melanoma": [0.9, 0.2], "is_melanoma": [1, 0]})
        >>> summary = summarize(table, categories=["melanoma"])
        >>> summary.jaccard, summary.auc("melanoma"), summary.mean_auc
        (0.75, 1.0, 1.0)
    """
    check_categories(categories)
    needed = [*SEGMENTATION_SCORES, *(f"{prefix}_{c}" for c in categories for prefix in ("p", "is"))]
    missing = [c for c in needed if c not in per_image]
    if missing:
        raise ConfigError(
            f"summarize needs the per-image columns evaluate() writes; this table lacks {', '.join(missing)} "
            f"(it has {', '.join(map(str, per_image.columns)) or 'no columns'})."
        )
    segmentation = {c: _mean(per_image[c].tolist()) for c in SEGMENTATION_SCORES}
    segmentation.update(
        {c: _mean(per_image[c].tolist()) for c in METRICS.names() if c in per_image and c not in SEGMENTATION_SCORES}
    )
    scored: dict[str, CategoryScores | None] = {}
    for category in categories:
        probabilities = per_image[f"p_{category}"].to_numpy(float)
        if np.isnan(probabilities).any() or len(probabilities) == 0:
            scored[category] = None
        else:
            scored[category] = CategoryScores(
                **binary_classification_scores(per_image[f"is_{category}"].to_numpy(int), probabilities)
            )
    aucs = [s.auc if s is not None else float("nan") for s in scored.values()]
    mean_auc = float(np.mean(aucs)) if aucs else float("nan")
    label_scheme = get_label_scheme(label_scheme) if label_scheme is not None else None
    report = None
    if label_scheme is not None and {"box_iou", "predicted_label", "is_melanoma"} <= set(per_image.columns):
        predicted = per_image["predicted_label"].to_numpy() == label_scheme.label_of("melanoma")
        actual = per_image["is_melanoma"].to_numpy(bool)
        tp = int((predicted & actual).sum())
        report = ReferenceReport(
            mean_box_iou=_mean(per_image["box_iou"].tolist()),
            melanoma_precision=tp / int(predicted.sum()) if predicted.any() else 0.0,
            melanoma_recall=tp / int(actual.sum()) if actual.any() else float("nan"),
        )
    summary = Summary(
        len(per_image), segmentation, scored, mean_auc, label_scheme.name if label_scheme is not None else None, report
    )
    return (
        summary.replace(intervals=_intervals(per_image, scored), interval_method=INTERVAL_METHOD)
        if intervals
        else summary
    )


def _intervals(per_image: pd.DataFrame, scored: Mapping[str, CategoryScores | None]) -> dict[str, tuple[float, float]]:
    """The 95% intervals of the mean Jaccard and of each scored category's AUC and AP."""
    found = {"jaccard": tuple(mean_interval(per_image["jaccard"].to_numpy(float))[1:])}
    for category, scores in scored.items():
        if scores is None:
            continue
        y, p = per_image[f"is_{category}"].to_numpy(int), per_image[f"p_{category}"].to_numpy(float)
        found[f"{category}_auc"] = tuple(bootstrap_interval(roc_auc, y, p)[1:])
        found[f"{category}_average_precision"] = tuple(bootstrap_interval(average_precision, y, p)[1:])
    return found


def flat_metrics(summary: Summary, prefix: str = "val_") -> dict[str, float]:
    """The headline numbers of a summary as a flat dict (``val_jaccard``,
    ``val_melanoma_auc``, ``val_mean_auc``, ...), for logging and monitoring.

    Example:
        >>> summary = Summary(2, {"jaccard": 0.8}, {"melanoma": None}, float("nan"))
        >>> flat_metrics(summary)
        {'val_jaccard': 0.8, 'val_melanoma_auc': nan, 'val_mean_auc': nan}
    """
    flat = {f"{prefix}{k}": float(v) for k, v in summary.segmentation.items()}
    flat.update({f"{prefix}{c}_auc": summary.auc(c) for c in summary.categories})
    flat[f"{prefix}mean_auc"] = float(summary.mean_auc)
    if summary.reference_report is not None:
        flat.update({f"{prefix}{k}": float(v) for k, v in dataclasses.asdict(summary.reference_report).items()})
    flat.update({f"{prefix}{k}": float(v) for k, v in (summary.coco or {}).items()})
    return flat


def metric_names(prefix: str = "val_") -> list[str]:
    """Every name :func:`flat_metrics` can log, e.g. to check a ``monitor`` before training.

    Example:
        >>> "val_melanoma_auc" in metric_names()
        True
    """
    names = [*SEGMENTATION_SCORES, *(n for n in METRICS.names() if n not in SEGMENTATION_SCORES)]
    names += [f"{c}_auc" for c in CATEGORIES] + ["mean_auc", *(f.name for f in dataclasses.fields(ReferenceReport))]
    names += [f"{kind}_{m}" for kind in ("bbox", "segm") for m in ("map", "map50")]
    return [prefix + n for n in names]
