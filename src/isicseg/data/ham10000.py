"""HAM10000 (the ISIC 2018 Task 3 training set) in isicseg's detection contract.

HAM10000 (Tschandl et al., Sci. Data 5, 180161, 2018; CC BY-NC 4.0) holds 10015
dermoscopy images of 7470 lesions with seven diagnoses (``dx``): ``mel``, ``nv``, ``bkl``,
``bcc``, ``akiec``, ``vasc``, ``df``; its authors later released a lesion mask for every
image (Tschandl et al., Nature Medicine 26, 2020). Two official layouts are read:

* Harvard Dataverse: ``HAM10000_images_part_1/``, ``HAM10000_images_part_2/``,
  ``HAM10000_metadata.csv`` (``lesion_id,image_id,dx,dx_type,age,sex,localization``) and
  ``HAM10000_segmentations_lesion_tschandl/ISIC_xxxxxxx_segmentation.png``;
* ISIC 2018 Task 3: ``ISIC2018_Task3_Training_Input/`` and the one-hot
  ``ISIC2018_Task3_Training_GroundTruth.csv`` (``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``; in the
  root, or in the ``ISIC2018_Task3_Training_GroundTruth/`` folder its official zip extracts to), with
  ``ISIC2018_Task3_Training_LesionGroupings.csv`` (``image,lesion_id,...``) for the lesion
  ids, and the masks folder above if it is in the same root.

**Diagnoses** map to isicseg's three diagnoses through ``diagnosis_map``
(:func:`default_diagnosis_map`): ``mel`` -> melanoma, ``nv`` -> nevus, ``bkl`` ->
seborrheic keratosis (an approximation: ``bkl``, "benign keratosis-like", also holds solar
lentigines and lichen-planus-like keratoses), and ``bcc``, ``akiec``, ``vasc``, ``df`` ->
benign under the ``binary`` scheme but **left out** under a scheme that tells nevus from
seborrheic keratosis (they are neither). Pass your own map (a value of ``None`` leaves a
diagnosis out).

**Images without a mask** (the Task 3 layout without the masks folder) have a label but no
outline and no box: they cannot train a Mask R-CNN's detector or mask head, and taking
them as images without a lesion would teach it that there is none. They are left out, and
a :class:`~isicseg.exceptions.DataWarning` says how many.

**Lesion-grouped splits.** HAM10000 has no official validation split; ``split="train"`` and
``"validation"`` are a seeded hold-out of ``val_fraction`` of each diagnosis's *lesions*
(:func:`~isicseg.data.splits.grouped_holdout`), and a ``subset`` draws whole lesions, so
no lesion's images are on both sides of any split isicseg makes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..exceptions import ConfigError, DatasetError, DatasetNotFoundError, DataWarning
from ..labels import DIAGNOSES, Diagnosis, LabelScheme, get_label_scheme
from .dataset import ISIC2017Dataset, Target, _check_options
from .io import DEFAULT_MAX_IMAGE_PIXELS, ImageSize
from .layout import Record, read_table
from .splits import grouped_holdout, grouped_subset

__all__ = [
    "HAM10000_DX",
    "HAM10000Dataset",
    "HamRecord",
    "default_diagnosis_map",
    "find_ham10000_layout",
    "scan_ham10000",
    "task3_labels_path",
]

HAM10000_DX = ("mel", "nv", "bkl", "bcc", "akiec", "vasc", "df")
"""HAM10000's diagnosis codes (``dx``)."""

METADATA = "HAM10000_metadata.csv"
METADATA_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
IMAGE_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
MASK_FOLDER = "HAM10000_segmentations_lesion_tschandl"
TASK3_IMAGES = "ISIC2018_Task3_Training_Input"
TASK3_LABELS = "ISIC2018_Task3_Training_GroundTruth.csv"
TASK3_LABEL_FOLDER = "ISIC2018_Task3_Training_GroundTruth"  # the official zip holds the CSV in this folder
TASK3_GROUPS = "ISIC2018_Task3_Training_LesionGroupings.csv"
TASK3_COLUMNS = ("image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")


@dataclass(frozen=True)
class HamRecord(Record):
    """One HAM10000 image: its files, the diagnosis it maps to, and the official metadata."""

    lesion_id: str
    dx: str
    dx_type: str | None
    age: float | None
    sex: str | None
    localization: str | None


def default_diagnosis_map(label_scheme: str | LabelScheme) -> dict[str, Diagnosis | None]:
    """How HAM10000's ``dx`` codes become isicseg diagnoses under ``label_scheme`` (``None``: left out).

    Example:
        >>> default_diagnosis_map("binary")["bcc"], default_diagnosis_map("three_class")["bcc"]
        ('nevus', None)
    """
    scheme = get_label_scheme(label_scheme)
    others_are_benign = scheme.label_of("nevus") == scheme.label_of("seborrheic_keratosis")
    other: Diagnosis | None = "nevus" if others_are_benign else None  # "nevus" carries the benign label there
    return {
        "mel": "melanoma",
        "nv": "nevus",
        "bkl": "seborrheic_keratosis",
        "bcc": other,
        "akiec": other,
        "vasc": other,
        "df": other,
    }


def task3_labels_path(root: str | Path) -> Path | None:
    """The ISIC 2018 Task 3 labels CSV of ``root``: in the root, or in the folder its official zip extracts to;
    ``None`` if neither."""
    for path in (Path(root) / TASK3_LABELS, Path(root) / TASK3_LABEL_FOLDER / TASK3_LABELS):
        if path.is_file():
            return path
    return None


def find_ham10000_layout(root: str | Path) -> Literal["dataverse", "task3"] | None:
    """Which official HAM10000 layout ``root`` holds, or ``None``."""
    root = Path(root)
    if (root / METADATA).is_file():
        return "dataverse"
    if task3_labels_path(root) is not None:
        return "task3"
    return None


def _metadata(root: Path, layout: str) -> pd.DataFrame:
    """``lesion_id,image_id,dx,dx_type,age,sex,localization`` for either layout (one row per image)."""
    if layout == "dataverse":
        frame = read_table(root / METADATA, METADATA_COLUMNS)
        source = root / METADATA
    else:
        source = task3_labels_path(root) or root / TASK3_LABELS
        labels = read_table(source, TASK3_COLUMNS)
        rows = []
        for line, row in enumerate(labels.itertuples(index=False), start=2):
            flags = {code: getattr(row, code) for code in TASK3_COLUMNS[1:]}
            hot = [code for code, value in flags.items() if value.strip() in ("1", "1.0")]
            if len(hot) != 1 or any(v.strip() not in ("0", "0.0", "1", "1.0") for v in flags.values()):
                raise DatasetError(
                    f"{source}, line {line}: {row.image} has the flags {flags}; expected exactly one 1.0 and the "
                    "rest 0.0."
                )
            rows.append({"image_id": row.image, "dx": hot[0].lower()})
        frame = pd.DataFrame(rows, columns=["image_id", "dx"])
        groups = root / TASK3_GROUPS
        if groups.is_file():
            table = read_table(groups, ("image", "lesion_id"))
            repeated = table["image"].duplicated(keep="first")
            if repeated.any():
                line = int(repeated.to_numpy().argmax()) + 2
                image = table["image"][repeated].iloc[0]
                first = int((table["image"] == image).to_numpy().argmax()) + 2
                raise DatasetError(
                    f"{groups}, line {line}: {image} is listed again (first on line {first}); each image belongs to "
                    f"one lesion, so it must be listed once ({int(repeated.sum())} repeated rows in all)."
                )
            lesions = table.set_index("image")["lesion_id"]
            frame["lesion_id"] = frame["image_id"].map(lesions).fillna("")
        else:
            frame["lesion_id"] = ""
        for column in ("dx_type", "age", "sex", "localization"):
            frame[column] = ""
    for line, (image_id, dx) in enumerate(zip(frame["image_id"], frame["dx"]), start=2):
        if dx not in HAM10000_DX:
            raise DatasetError(
                f"{source}, line {line}: {image_id} has dx {dx!r}; expected one of {', '.join(HAM10000_DX)}."
            )
    repeated = frame["image_id"][frame["image_id"].duplicated()]
    if len(repeated):
        raise DatasetError(
            f"{source}: image id {repeated.iloc[0]!r} appears {int((frame['image_id'] == repeated.iloc[0]).sum())} "
            "times; each image once."
        )
    return frame


def _image_files(root: Path, layout: str) -> dict[str, Path]:
    folders = IMAGE_FOLDERS if layout == "dataverse" else (TASK3_IMAGES,)
    present = [root / f for f in folders if (root / f).is_dir()]
    if not present:
        raise DatasetNotFoundError(f"HAM10000 root {root} holds none of the image folders {', '.join(folders)}.")
    files: dict[str, Path] = {}
    for folder in present:
        try:
            listing = sorted(folder.iterdir())
        except OSError as error:
            raise DatasetError(
                f"Image folder {folder} cannot be listed ({error.strerror or error}); check its permissions."
            ) from None
        for path in listing:
            if path.suffix.lower() in (".jpg", ".jpeg") and path.stem.startswith("ISIC_"):
                if path.stem in files:
                    raise DatasetError(
                        f"Image {path.stem} has two files, {files[path.stem]} and {path}; which one is meant is "
                        "unclear. Keep one."
                    )
                files[path.stem] = path
    return files


def _optional(value: str) -> str | None:
    return value.strip() or None


def _age(value: str, source: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{source}: age {value!r} is not a number.") from None


def scan_ham10000(
    root: str | Path, *, diagnosis_map: Mapping[str, Diagnosis | None]
) -> tuple[list[HamRecord], list[DatasetError], dict[str, int]]:
    """Every HAM10000 image with a mask and a mapped diagnosis, the problems found, and what was left out (by
    reason)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"HAM10000 root {root} is a file, not a folder.")
    layout = find_ham10000_layout(root)
    if layout is None:
        raise DatasetNotFoundError(
            f"{root} holds neither {METADATA} (the Harvard Dataverse layout) nor {TASK3_LABELS} (the ISIC 2018 "
            "Task 3 layout)."
        )
    frame = _metadata(root, layout)
    files = _image_files(root, layout)
    masks = root / MASK_FOLDER
    records, problems, left_out = [], [], {"no mask": 0, "diagnosis left out": 0}
    for row in frame.itertuples(index=False):
        image = files.get(row.image_id)
        if image is None:
            problems.append(
                DatasetError(
                    f"Image {row.image_id} is listed in the metadata of {root} but has no file in its image folders."
                )
            )
            continue
        diagnosis = diagnosis_map[row.dx]
        if diagnosis is None:
            left_out["diagnosis left out"] += 1
            continue
        mask = masks / f"{row.image_id}_segmentation.png"
        if not mask.is_file():
            if masks.is_dir():
                problems.append(DatasetError(f"Image {image} has no mask: expected {mask}."))
            else:
                left_out["no mask"] += 1
            continue
        records.append(
            HamRecord(
                row.image_id,
                image,
                mask,
                diagnosis,
                lesion_id=row.lesion_id or row.image_id,
                dx=row.dx,
                dx_type=_optional(row.dx_type),
                age=_age(row.age, f"{root} metadata of {row.image_id}"),
                sex=_optional(row.sex),
                localization=_optional(row.localization),
            )
        )
    extra = sorted(set(files) - set(frame["image_id"]))
    if extra:
        warnings.warn(
            f"{len(extra)} images in {root} are not in its metadata (e.g. {', '.join(extra[:3])}); they are ignored.",
            DataWarning,
            stacklevel=3,
        )
    return sorted(records, key=lambda r: r.image_id), problems, left_out


def _check_map(diagnosis_map: Mapping[str, Any]) -> dict[str, Diagnosis | None]:
    if not isinstance(diagnosis_map, Mapping):
        raise ConfigError(
            f"diagnosis_map must map HAM10000 dx codes to a diagnosis or None; got {type(diagnosis_map).__name__}."
        )
    unknown = sorted(set(diagnosis_map) - set(HAM10000_DX))
    missing = sorted(set(HAM10000_DX) - set(diagnosis_map))
    bad = {k: v for k, v in diagnosis_map.items() if v is not None and v not in DIAGNOSES}
    if unknown or missing or bad:
        raise ConfigError(
            f"diagnosis_map must give each of {', '.join(HAM10000_DX)} one of {', '.join(DIAGNOSES)} or None (left "
            "out); "
            f"got unknown codes {unknown}, missing codes {missing}, bad values {bad}."
        )
    return dict(diagnosis_map)


class HAM10000Dataset(ISIC2017Dataset):
    """HAM10000 images with lesion masks, boxes and diagnoses, in the same contract as
    :class:`~isicseg.ISIC2017Dataset`.

    Args:
        root: A HAM10000 root in one of the official layouts (see the module description).
        split: ``"all"``, or ``"train"``/``"validation"``: the lesion-grouped hold-out.
        label_scheme: As for :class:`~isicseg.ISIC2017Dataset`.
        diagnosis_map: ``dx`` code -> diagnosis or ``None`` (left out); default
            :func:`~isicseg.data.ham10000.default_diagnosis_map` of the scheme.
        val_fraction: Share of each diagnosis's lesions held out as ``"validation"``.
        split_seed: Seed of that hold-out.
        transforms: As for :class:`~isicseg.ISIC2017Dataset`.
        image_size: As for :class:`~isicseg.ISIC2017Dataset`.
        subset: As for :class:`~isicseg.ISIC2017Dataset`, but drawn as whole lesions (at
            least that many images).
        seed: Seed of the subset draw.
        binarize_masks: As for :class:`~isicseg.ISIC2017Dataset`.
        empty_masks: As for :class:`~isicseg.ISIC2017Dataset`.
        max_image_pixels: As for :class:`~isicseg.ISIC2017Dataset`.
        cache_masks: As for :class:`~isicseg.ISIC2017Dataset`.
        download: Fetch what is missing first, in the ISIC 2018 Task 3 layout with the
            masks (:func:`~isicseg.data.download.download_ham10000`; about 2.8 GB, files
            already there are verified, not fetched again).

    Attributes:
        records: A :class:`~isicseg.data.ham10000.HamRecord` per item, with ``lesion_id``,
            ``dx``, ``dx_type``, ``age``, ``sex`` and ``localization``.
        left_out: Images not read, by reason (``"no mask"``, ``"diagnosis left out"``).
    """

    def __init__(
        self,
        root: str | Path,
        split: Literal["all", "train", "validation"] = "all",
        *,
        label_scheme: str | LabelScheme = "binary",
        diagnosis_map: Mapping[str, Diagnosis | None] | None = None,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        transforms: Callable[[Any, Target], tuple[Any, Target]] | None = None,
        image_size: ImageSize = None,
        subset: int | float | None = None,
        seed: int = 0,
        binarize_masks: bool = False,
        empty_masks: Literal["error", "keep"] = "error",
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        cache_masks: bool = True,
        download: bool = False,
    ) -> None:
        if split not in ("all", "train", "validation"):
            raise ConfigError(
                f"Unknown HAM10000 split {split!r}; allowed: all, train, validation (a lesion-grouped hold-out)."
            )
        scheme = get_label_scheme(label_scheme)
        mapping = _check_map(default_diagnosis_map(scheme) if diagnosis_map is None else diagnosis_map)
        _check_options(
            root=root,
            image_size=image_size,
            empty_masks=empty_masks,
            transforms=transforms,
            subset=subset,
            seed=seed,
            binarize_masks=binarize_masks,
            max_image_pixels=max_image_pixels,
            cache_masks=cache_masks,
            download=download,
        )
        if download:
            from .download import download_ham10000

            download_ham10000(root)
        self.root, self.split, self.label_scheme, self.transforms, self.image_size = (
            Path(root),
            split,
            scheme,
            transforms,
            image_size,
        )
        self.binarize_masks, self.empty_masks, self.max_image_pixels = binarize_masks, empty_masks, max_image_pixels
        self.diagnosis_map = mapping
        if split != "all" and find_ham10000_layout(self.root) == "task3" and not (self.root / TASK3_GROUPS).is_file():
            raise DatasetError(
                f"{self.root} has no {TASK3_GROUPS}: without lesion ids a hold-out could put one lesion on both "
                "sides; use split='all'."
            )
        records, problems, self.left_out = scan_ham10000(self.root, diagnosis_map=mapping)
        if problems:
            more = (
                f" (and {len(problems) - 1} more problems; `isicseg check {self.root}` lists them all)"
                if len(problems) > 1
                else ""
            )
            raise DatasetError(f"{problems[0]}{more}")
        if self.left_out["no mask"]:
            warnings.warn(
                f"{self.left_out['no mask']} images of {self.root} have no mask ({MASK_FOLDER}/ is not there): "
                "they cannot train a "
                f"detector and are left out.",
                DataWarning,
                stacklevel=2,
            )
        if split != "all":
            kept, held = grouped_holdout(
                [r.lesion_id for r in records], [r.dx for r in records], fraction=val_fraction, seed=split_seed
            )
            records = [records[i] for i in (held if split == "validation" else kept)]
        if subset is not None:
            if isinstance(subset, float):
                if not 0 < subset <= 1:
                    raise ConfigError(f"A fractional subset must lie in (0, 1]; got {subset}.")
                subset = max(1, round(subset * len(records)))
            records = [records[i] for i in grouped_subset([r.lesion_id for r in records], subset, seed=seed)]
        self.records: list[HamRecord] = records
        self.cache_masks = cache_masks and image_size is not None
        self._sizes: dict[int, tuple[int, int]] = {}
        self._masks: dict[int, tuple[Any, tuple[int, int]]] = {}

    @property
    def lesion_ids(self) -> list[str]:
        """The lesion of each item (HAM10000's ``lesion_id``), in item order."""
        return [r.lesion_id for r in self.records]

    @property
    def metadata(self) -> pd.DataFrame:
        """A table with one row per item and the columns ``image_id``, ``lesion_id``, ``dx``, ``diagnosis``,
        ``dx_type``, ``age``, ``sex``, ``localization``."""
        columns = ["image_id", "lesion_id", "dx", "diagnosis", "dx_type", "age", "sex", "localization"]
        return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in self.records], columns=columns)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.class_counts().items())
        return (
            f"HAM10000Dataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"lesions={len(set(self.lesion_ids))}, "
            f"label_scheme={self.label_scheme.name!r}, classes: {counts}, image_size={self.image_size!r})"
        )
