"""A seeded, diagnosis-stratified held-out split of an ISIC 2017 training root.

``make_holdout_root(data, out)`` writes ``out`` in the official layout: its *Training*
split holds the kept images and its *Validation* split the held-out ones (symbolic links
to the original files, CSVs with the official rows), so the library, the CLI and the
official scorer all read it as they read the real release.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd


def stratified_holdout(labels: pd.DataFrame, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split ``image_id``s into (kept, held out), ``fraction`` of each diagnosis held out."""
    diagnosis = np.where(
        labels["melanoma"] == 1, "melanoma", np.where(labels["seborrheic_keratosis"] == 1, "sk", "nevus")
    )
    rng = np.random.default_rng(seed)
    held: list[str] = []
    for name in sorted(set(diagnosis)):
        ids = sorted(labels["image_id"][diagnosis == name])
        held += list(rng.choice(ids, size=round(len(ids) * fraction), replace=False))
    held_set = set(held)
    return sorted(i for i in labels["image_id"] if i not in held_set), sorted(held)


def _link_split(
    data: Path, out: Path, split: str, ids: list[str], labels: pd.DataFrame, source_split: str = "Training"
) -> None:
    images, masks = out / f"ISIC-2017_{split}_Data", out / f"ISIC-2017_{split}_Part1_GroundTruth"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for image_id in ids:
        for source, folder in (
            (data / f"ISIC-2017_{source_split}_Data" / f"{image_id}.jpg", images),
            (data / f"ISIC-2017_{source_split}_Part1_GroundTruth" / f"{image_id}_segmentation.png", masks),
        ):
            target = folder / source.name
            if not target.exists():
                os.symlink(source.resolve(), target)
    labels[labels["image_id"].isin(ids)].to_csv(out / f"ISIC-2017_{split}_Part3_GroundTruth.csv", index=False)


def make_holdout_root(
    data: str | Path, out: str | Path, *, fraction: float = 0.2, seed: int = 0, limit: int | None = None
) -> tuple[Path, int, int]:
    """Write the split root; returns ``(root, kept count, held-out count)``. With ``limit``,
    only a seeded, stratified ``limit`` images of ``data`` take part (for smoke runs)."""
    data, out = Path(data), Path(out)
    labels = pd.read_csv(data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    if limit is not None and limit < len(labels):
        _, chosen = stratified_holdout(labels, limit / len(labels), seed + 1)
        labels = labels[labels["image_id"].isin(chosen)].reset_index(drop=True)
    kept, held = stratified_holdout(labels, fraction, seed)
    _link_split(data, out, "Training", kept, labels)
    _link_split(data, out, "Validation", held, labels)
    return out, len(kept), len(held)


def make_combined_root(data: str | Path, eval_data: str | Path, eval_split: str, out: str | Path) -> Path:
    """A root whose Training split is ``data``'s and whose Validation split is ``eval_data``'s ``eval_split``."""
    from isicseg.data.layout import SPLITS

    data, eval_data, out = Path(data), Path(eval_data), Path(out)
    train = pd.read_csv(data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    name = SPLITS[eval_split]
    held = pd.read_csv(eval_data / f"ISIC-2017_{name}_Part3_GroundTruth.csv", dtype={"image_id": str})
    _link_split(data, out, "Training", list(train["image_id"]), train)
    _link_split(eval_data, out, "Validation", list(held["image_id"]), held, source_split=name)
    return out


def make_subset_root(data: str | Path, ids: list[str], out: str | Path) -> tuple[Path, int]:
    """A root whose Validation split is the images of ``data``'s Training split named in ``ids``; returns ``(root, count)``."""
    data, out = Path(data), Path(out)
    labels = pd.read_csv(data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    chosen = sorted(set(ids) & set(labels["image_id"]))
    _link_split(data, out, "Validation", chosen, labels)
    return out, len(chosen)
