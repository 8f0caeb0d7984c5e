"""The official ISIC 2017 release layout: folder and file names, ground-truth CSVs."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..exceptions import ConfigError, DatasetError, DatasetNotFoundError, DataWarning
from ..labels import Diagnosis

__all__ = [
    "Split",
    "SPLITS",
    "SplitPaths",
    "Record",
    "split_paths",
    "read_ground_truth",
    "scan_split",
    "expected_layout",
]

Split = Literal["train", "validation", "test"]
SPLITS: dict[str, str] = {"train": "Training", "validation": "Validation", "test": "Test_v2"}
CSV_COLUMNS = ("image_id", "melanoma", "seborrheic_keratosis")
_IMAGE_NAME = re.compile(r"^(ISIC_\d{7})\.jpe?g$", re.IGNORECASE)


@dataclass(frozen=True)
class SplitPaths:
    """Where the files of one split live under a data root."""

    images: Path
    masks: Path
    csv: Path

    def mask_of(self, image_id: str) -> Path:
        return self.masks / f"{image_id}_segmentation.png"


@dataclass(frozen=True)
class Record:
    """One image of a split: its files and its diagnosis."""

    image_id: str
    image_path: Path
    mask_path: Path
    diagnosis: Diagnosis


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"Unknown split {split!r}. Available: {', '.join(SPLITS)}.")
    return SPLITS[split]


def check_root(root: Any) -> Path:
    """``root`` as a Path, or ConfigError when it is not a path at all (e.g. the number 123).

    Example:
        >>> check_root(123)
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: The data root must be a folder path (str or pathlib.Path); got int 123.
    """
    if isinstance(root, bytes) or not isinstance(root, (str, os.PathLike)):
        raise ConfigError(
            f"The data root must be a folder path (str or pathlib.Path); got {type(root).__name__} {root!r}."
        )
    return Path(root)


def split_paths(root: str | Path, split: str) -> SplitPaths:
    """Paths of a split's image folder, mask folder and ground-truth CSV.

    Example:
        >>> split_paths("/data/isic", "test").csv.name
        'ISIC-2017_Test_v2_Part3_GroundTruth.csv'
    """
    name = _check_split(split)
    root = check_root(root)
    return SplitPaths(
        images=root / f"ISIC-2017_{name}_Data",
        masks=root / f"ISIC-2017_{name}_Part1_GroundTruth",
        csv=root / f"ISIC-2017_{name}_Part3_GroundTruth.csv",
    )


def expected_layout(root: str | Path, split: str) -> str:
    """A short picture of the files a split needs, for error messages."""
    paths = split_paths(root, split)
    return (
        f"{Path(root)}/\n"
        f"  {paths.images.name}/ISIC_0000000.jpg ...\n"
        f"  {paths.masks.name}/ISIC_0000000_segmentation.png ...\n"
        f"  {paths.csv.name}  (columns: {','.join(CSV_COLUMNS)})"
    )


def _flag(value: str, csv: Path, line: int, column: str) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number not in (0.0, 1.0):
        raise DatasetError(f"{csv}, line {line}: column {column!r} is {value!r}; expected 0.0 or 1.0.")
    return number == 1.0


def read_table(path: Path, columns: tuple[str, ...], *, what: str = "CSV") -> pd.DataFrame:
    """A CSV as strings, with a clear error (naming the file) when it is unreadable or lacks one of ``columns``."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DatasetError(
            f"{path} is not a readable CSV file ({error}); expected columns {','.join(columns)}."
        ) from None
    except OSError as error:
        raise DatasetError(
            f"{what} {path} cannot be read ({error.strerror or error}); check its permissions."
        ) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{path} lacks the columns {missing}; its header is {list(frame.columns)}, expected {','.join(columns)}."
        )
    return frame


def read_ground_truth(csv: str | Path) -> dict[str, Diagnosis]:
    """Read a Part 3 ground-truth CSV into ``{image_id: diagnosis}``.

    Raises:
        DatasetNotFoundError: If the file does not exist.
        DatasetError: On a wrong header, a value other than 0/1, both flags set, or a
            repeated image id; the message gives the file and line.
    """
    csv = Path(csv)
    if not csv.is_file():
        raise DatasetNotFoundError(f"Ground-truth CSV {csv} does not exist.")
    frame = read_table(csv, CSV_COLUMNS, what="Ground-truth CSV")
    diagnoses: dict[str, Diagnosis] = {}
    for index, (image_id, mel, sk) in enumerate(frame[list(CSV_COLUMNS)].itertuples(index=False), start=2):
        is_mel = _flag(mel, csv, index, "melanoma")
        is_sk = _flag(sk, csv, index, "seborrheic_keratosis")
        if is_mel and is_sk:
            raise DatasetError(
                f"{csv}, line {index}: {image_id} is marked both melanoma and seborrheic_keratosis; at most one "
                "may be 1.0."
            )
        if image_id in diagnoses:
            raise DatasetError(f"{csv}, line {index}: image id {image_id!r} appears twice.")
        diagnoses[image_id] = "melanoma" if is_mel else "seborrheic_keratosis" if is_sk else "nevus"
    return diagnoses


def scan_split(root: str | Path, split: str) -> tuple[list[Record], list[DatasetError]]:
    """List a split's images with their masks and diagnoses, without decoding pixels.

    Returns:
        The records that are complete, sorted by image id, and a problem for each image
        that lacks a mask or CSV row. CSV rows without an image are reported with a
        :class:`~isicseg.exceptions.DataWarning` and ignored.

    Raises:
        DatasetNotFoundError: If the root, the split's image or mask folder, or its CSV
            is missing; the message shows the expected layout.
        DatasetError: If the CSV is malformed.
    """
    root = Path(root)
    paths = split_paths(root, split)
    if root.exists() and not root.is_dir():
        raise DatasetError(
            f"ISIC 2017 data root {root} is a file, not a folder. Expected layout:\n{expected_layout(root, split)}"
        )
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"ISIC 2017 data root {root} does not exist. Expected layout:\n{expected_layout(root, split)}"
        )
    for what, path in (("image folder", paths.images), ("mask folder", paths.masks)):
        if not path.is_dir():
            raise DatasetNotFoundError(
                f"The {split} split's {what} {path} does not exist. Expected layout:\n{expected_layout(root, split)}"
            )
    if not paths.csv.is_file():
        raise DatasetNotFoundError(
            f"The {split} split's ground-truth CSV {paths.csv} does not exist. Expected "
            f"layout:\n{expected_layout(root, split)}"
        )
    diagnoses = read_ground_truth(paths.csv)
    found: dict[str, list[Path]] = {}
    try:
        listing = sorted(paths.images.iterdir())
    except OSError as error:
        raise DatasetError(
            f"The {split} split's image folder {paths.images} cannot be listed ({error.strerror or error}); check "
            "its permissions."
        ) from None
    for path in listing:
        match = _IMAGE_NAME.match(path.name)
        if match:
            found.setdefault(match.group(1), []).append(path)
    records, problems = [], []
    images = {}
    for image_id, files in found.items():
        if len(files) > 1:
            problems.append(
                DatasetError(
                    f"Image {image_id} has {len(files)} files in {paths.images}: {', '.join(f.name for f in files)}; "
                    f"which one is meant is unclear. Keep one."
                )
            )
        else:
            images[image_id] = files[0]
    for image_id in sorted(images):
        mask = paths.mask_of(image_id)
        if not mask.is_file():
            problems.append(DatasetError(f"Image {images[image_id]} has no mask: expected {mask}."))
        elif image_id not in diagnoses:
            problems.append(DatasetError(f"Image {images[image_id]} has no row in {paths.csv}."))
        else:
            records.append(Record(image_id, images[image_id], mask, diagnoses[image_id]))
    extra = sorted(set(diagnoses) - set(found))
    if extra:
        warnings.warn(
            f"{paths.csv} has {len(extra)} rows for images that are not in {paths.images} "
            f"(e.g. {', '.join(extra[:3])}); they are ignored.",
            DataWarning,
            stacklevel=3,
        )
    return records, problems
