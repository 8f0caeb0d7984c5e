"""ISIC 2017 submission files: writing them, and scoring them against the ground truth on disk.

A submission is a folder of ``ISIC_nnnnnnn_segmentation.png`` masks (8-bit, 0 and 255, at
each image's size) and a ``classification.csv`` with ``image_id,melanoma,seborrheic_keratosis``
probabilities, as the challenge asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..data.io import read_mask
from ..data.layout import read_ground_truth, split_paths
from ..exceptions import DatasetError
from ..labels import CATEGORIES
from .scoring import segmentation_row
from .summary import Summary, check_categories, summarize

__all__ = ["write_mask_png", "write_classification_csv", "score_submission"]


def write_mask_png(mask: np.ndarray, path: Path) -> None:
    """Write a bool mask as an ISIC 8-bit PNG (0 and 255) at zlib level 1: a two-valued mask
    compresses well at any level, and the lowest is the cheapest (README, "Benchmarks")."""
    Image.fromarray(mask.astype(np.uint8) * 255).save(path, compress_level=1)


def write_classification_csv(per_image: pd.DataFrame, path: Path) -> None:
    """Write ``image_id,melanoma,seborrheic_keratosis`` from a per-image table's ``p_*``
    columns (a category the label scheme does not tell apart gets 0)."""
    submission = pd.DataFrame(
        {"image_id": per_image["image_id"], **{c: per_image[f"p_{c}"].fillna(0.0) for c in CATEGORIES}}
    )
    submission.to_csv(path, index=False)


def score_submission(
    masks_dir: str | Path,
    classification_csv: str | Path | None,
    *,
    data_root: str | Path,
    split: str,
    categories: Sequence[str] = CATEGORIES,
    intervals: bool = False,
) -> Summary:
    """Score ISIC 2017 submission files against the ground truth on disk.

    Args:
        masks_dir: Folder of ``ISIC_nnnnnnn_segmentation.png`` files (foreground > 128),
            one per image of the split, each at its image's size.
        classification_csv: ``image_id`` plus one probability column per category, or
            ``None`` to score segmentation only.
        data_root: The data root holding the split's ground truth.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        categories: Categories to score in Part 3; the CSV needs a column for each.
        intervals: Also compute the 95% intervals of the mean Jaccard and of each AUC and
            average precision (as :func:`~isicseg.evaluation.summarize` does).

    Returns:
        The :class:`~isicseg.evaluation.Summary` (no label scheme, reference report or COCO
        numbers: files carry no boxes or labels).

    Raises:
        DatasetError: If the mask folder, a mask, a CSV column or a CSV row is missing, or a mask has the wrong size.
    """
    check_categories(categories)
    paths = split_paths(data_root, split)
    truth = read_ground_truth(paths.csv)
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise DatasetError(
            f"The submission's mask folder {masks_dir} does not exist or is not a folder; expected one mask per "
            f"image of {paths.csv}."
        )
    absent = [i for i in truth if not (masks_dir / f"{i}_segmentation.png").is_file()]
    if absent:
        raise DatasetError(
            f"The submission lacks {len(absent)} of {len(truth)} masks, e.g. "
            f"{masks_dir / f'{absent[0]}_segmentation.png'}; "
            f"expected one ISIC_nnnnnnn_segmentation.png per image of {paths.csv}."
        )
    rows = []
    for image_id, diagnosis in truth.items():
        gt_path = paths.mask_of(image_id)
        with Image.open(gt_path) as gt_file:
            width, height = gt_file.size
        pred = read_mask(
            masks_dir / f"{image_id}_segmentation.png",
            expected_height_and_width=(height, width),
            binarize=True,
            image_path=gt_path,
        ).astype(bool)
        rows.append(
            {
                "image_id": image_id,
                **segmentation_row(pred, read_mask(gt_path, binarize=True).astype(bool)),
                **{f"is_{c}": int(diagnosis == c) for c in CATEGORIES},
            }
        )
    per_image = pd.DataFrame(rows)
    for c in CATEGORIES:
        per_image[f"p_{c}"] = np.nan
    if classification_csv is not None:
        probabilities = pd.read_csv(classification_csv, dtype={"image_id": str}).set_index("image_id")
        lacking = [c for c in categories if c not in probabilities.columns]
        if lacking:
            raise DatasetError(
                f"{classification_csv} has no column {', '.join(lacking)}; it has "
                f"{', '.join(map(str, probabilities.columns))}."
            )
        missing = sorted(set(per_image["image_id"]) - set(probabilities.index))
        if missing:
            raise DatasetError(f"{classification_csv} has no row for {len(missing)} images (e.g. {missing[0]}).")
        for c in categories:
            per_image[f"p_{c}"] = probabilities.loc[per_image["image_id"], c].to_numpy(float)
    return summarize(per_image, categories=categories, intervals=intervals)
