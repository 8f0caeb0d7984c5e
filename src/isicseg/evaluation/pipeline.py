"""``evaluate``: run a model over an ISIC split and report every number users compare.

The path reads one way: the dataset's images go through the model
(:mod:`~isicseg.evaluation.predicting`), each answer is scored against its true mask at
the original resolution (:mod:`~isicseg.evaluation.scoring`), the rows become a typed
:class:`~isicseg.evaluation.Summary` (:mod:`~isicseg.evaluation.summary`), and files are
written (:mod:`~isicseg.evaluation.submission`, :mod:`~isicseg.evaluation.report`).
The answer for each image is decided from the model's outputs alone (see
:mod:`isicseg.inference`), never by looking at the ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from .._devices import resolve_device, resolve_precision
from ..data.dataset import ISIC2017Dataset
from ..exceptions import DatasetError
from ..inference import InferenceConfig
from ..labels import CATEGORIES
from ..outputs import staged_output
from .predicting import predict_rows
from .report import OverlayPicker, write_figures
from .scoring import coco_map
from .submission import write_classification_csv, write_mask_png
from .summary import Summary, summarize

__all__ = ["EVALUATE_OUTPUTS", "EvaluationResult", "evaluate"]

EVALUATE_OUTPUTS = ("masks", "figures", "per_image.csv", "summary.json", "classification.csv")
"""What :func:`evaluate` writes in ``out_dir`` (and replaces there with ``overwrite=True``)."""


@dataclass
class EvaluationResult:
    """What :func:`~isicseg.evaluate` returns.

    Attributes:
        per_image: One row per image (see :func:`~isicseg.evaluate`).
        summary: Dataset-level scores (``nan`` where undefined); ``summary.to_dict()`` is ``summary.json``.
        out_dir: Where files were written, if anywhere.
    """

    per_image: pd.DataFrame
    summary: Summary
    out_dir: Path | None = None


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    dataset: ISIC2017Dataset,
    *,
    config: InferenceConfig | None = None,
    out_dir: str | Path | None = None,
    num_workers: int = 0,
    device: str | torch.device | None = None,
    figures: bool = True,
    max_overlays: int = 8,
    overwrite: bool = False,
) -> EvaluationResult:
    """Evaluate a model on an ISIC 2017 split.

    Args:
        model: A Mask R-CNN trained with ``dataset``'s label scheme.
        dataset: The split to evaluate. Its own ``transforms`` are not applied; images
            are read at its ``image_size``.
        config: How the model answers: batch size, TTA, clean-up, precision, memory
            format (default: :class:`~isicseg.InferenceConfig`'s defaults). The model is
            prepared by it (:meth:`~isicseg.InferenceConfig.prepare`).
        out_dir: If given, write ``per_image.csv``, ``summary.json``, the ISIC submission
            (``masks/ISIC_nnnnnnn_segmentation.png`` at the original size and
            ``classification.csv`` with ``image_id,melanoma,seborrheic_keratosis``) and
            ``figures/`` there.
        num_workers: DataLoader worker processes reading images.
        device: Where to run (default: the model's device).
        figures: Write figures (needs ``out_dir``).
        max_overlays: Images in the overlay grid.
        overwrite: Allow a non-empty ``out_dir``; its :data:`~isicseg.evaluation.EVALUATE_OUTPUTS` are then
            replaced, once every new file was written (see :mod:`isicseg.outputs`). Other
            files there are left alone. Without it, a non-empty ``out_dir`` is refused
            before anything runs.

    Returns:
        The per-image table (``image_id``, the six Part 1 scores, ``box_iou``,
        ``true_label``, ``true_class``, ``predicted_label``, ``predicted_class``, ``score``,
        ``p_melanoma``, ``p_seborrheic_keratosis``, ``is_melanoma``,
        ``is_seborrheic_keratosis``) and the summary (see :func:`~isicseg.evaluation.summarize`, with ``coco``).

    Example:
        >>> from isicseg import ISIC2017Dataset, build_mask_rcnn, write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"test": 2}, image_size=(64, 80))
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=80)
        >>> result = evaluate(model, ISIC2017Dataset(root, "test"))
        >>> list(result.per_image.columns[:3]), result.summary.n_images, sorted(result.summary.coco)[:2]
        (['image_id', 'jaccard', 'dice'], 2, ['bbox_map', 'bbox_map50'])
    """
    config = InferenceConfig.or_default(config, "evaluate")
    resolve_precision(
        config.precision, resolve_device(device) if device is not None else next(model.parameters()).device
    )  # before any file is written
    identity = getattr(model, "identity", None)
    if identity is not None:
        identity.check_label_scheme(dataset.label_scheme.name)  # a model's labels only mean what they meant in training
    if len(dataset) == 0:
        raise DatasetError(f"Nothing to evaluate: {dataset!r} holds no image; choose a split or subset with images.")
    options = dict(config=config, num_workers=num_workers, device=device)
    if out_dir is None:
        return _evaluate(model, dataset, None, figures=False, max_overlays=0, **options)
    out = Path(out_dir)
    inputs = sorted({p for record in dataset.records for p in (record.image_path.parent, record.mask_path.parent)})
    with staged_output(out, EVALUATE_OUTPUTS, overwrite=overwrite, command="evaluate", inputs=inputs) as staging:
        result = _evaluate(model, dataset, staging, figures=figures, max_overlays=max_overlays, **options)
    return replace(result, out_dir=out)


def _evaluate(
    model: torch.nn.Module, dataset: ISIC2017Dataset, out: Path | None, *, figures: bool, max_overlays: int, **options
) -> EvaluationResult:
    """Predict, score, summarise and (with ``out``) write every file of :func:`evaluate` into ``out``.

    This is the one place that writes: each submission mask as its answer arrives (full-resolution
    masks are not all held in memory), then the CSVs, the summary and the figures.
    """
    picker = OverlayPicker(max_overlays if out is not None and figures else 0)
    if out is not None:
        (out / "masks").mkdir()

    def on_answer(index, answer, truth, row) -> None:
        record = dataset.records[index]
        if out is not None:
            write_mask_png(answer.mask, out / "masks" / f"{record.image_id}_segmentation.png")
        picker.add(record, answer, truth, row["jaccard"])

    predictions = predict_rows(model, dataset, coco=True, on_answer=on_answer, **options)
    scheme = dataset.label_scheme
    per_image = pd.DataFrame(predictions.rows).drop(columns="index")
    summary = summarize(per_image, scheme, intervals=True).replace(
        coco=coco_map(predictions.coco_ground_truth, predictions.coco_detections, class_names=scheme.class_names)
    )
    if out is not None:
        per_image.to_csv(out / "per_image.csv", index=False)
        write_classification_csv(per_image, out / "classification.csv")
        (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
        if figures:
            plotted = [c for c in CATEGORIES if len(per_image) and not per_image[f"p_{c}"].isna().any()]
            write_figures(per_image, scheme, plotted, picker.overlays(scheme), out / "figures")
    return EvaluationResult(per_image, summary, out)
