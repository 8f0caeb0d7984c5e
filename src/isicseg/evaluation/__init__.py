"""Evaluation on ISIC 2017 splits, one job per module.

* :mod:`~isicseg.evaluation.pipeline`: :func:`~isicseg.evaluate`, the whole path for a split;
* :mod:`~isicseg.evaluation.predicting`: the model over a dataset (a DataLoader), one answer and row per image;
* :mod:`~isicseg.evaluation.scoring`: an answer against its true mask, the Trainer's :class:`IsicEvaluator`, COCO mAP;
* :mod:`~isicseg.evaluation.summary`: the typed :class:`Summary` of a per-image table;
* :mod:`~isicseg.evaluation.submission`: ISIC submission files, written and scored;
* :mod:`~isicseg.evaluation.report`: the text table and the figures.

Scores follow the ISIC 2017 challenge: segmentation (Part 1) per image at the original
resolution, then averaged; classification (Part 3) from per-image probabilities. The
summary also holds the reference report's three numbers (mean box IoU, melanoma precision
and recall) and COCO-style box and mask mAP from pycocotools.
"""

from .pipeline import EVALUATE_OUTPUTS, EvaluationResult, evaluate
from .predicting import OnAnswer, Predictions, predict_rows
from .report import format_summary
from .scoring import IsicEvaluator, coco_map, score_answer, score_row, segmentation_row
from .submission import score_submission, write_classification_csv, write_mask_png
from .summary import CategoryScores, ReferenceReport, Summary, flat_metrics, metric_names, summarize

__all__ = [
    "CategoryScores",
    "EVALUATE_OUTPUTS",
    "EvaluationResult",
    "IsicEvaluator",
    "OnAnswer",
    "Predictions",
    "ReferenceReport",
    "Summary",
    "coco_map",
    "evaluate",
    "flat_metrics",
    "format_summary",
    "metric_names",
    "predict_rows",
    "score_answer",
    "score_row",
    "score_submission",
    "segmentation_row",
    "summarize",
    "write_classification_csv",
    "write_mask_png",
]
