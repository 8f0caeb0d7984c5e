"""The ISIC 2017 reader: files in the official layout to torchvision detection samples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torchvision import tv_tensors

from ..exceptions import ConfigError, DatasetError
from ..labels import LabelScheme, get_label_scheme
from ..ops import masks_to_boxes
from .io import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageSize,
    read_height_and_width,
    read_image,
    read_mask,
    resized_height_and_width,
)
from .layout import Record, Split, scan_split, split_paths

__all__ = ["ISIC2017Dataset", "Target", "make_target"]

Target = dict[str, Any]


def make_target(mask: np.ndarray, label: int, *, image_id: str) -> Target:
    """Build a torchvision detection target for one lesion mask.

    Args:
        mask: ``(H, W)`` array, nonzero on the lesion. An empty mask gives a target with
            no instance.
        label: Class label of the lesion (1 or more; 0 is the background).
        image_id: Identifier kept in the target (e.g. ``"ISIC_0000062"``).

    Returns:
        A dict with ``boxes`` (:class:`~torchvision.tv_tensors.BoundingBoxes`, XYXY,
        float32, ``(N, 4)``), ``labels`` (int64 ``(N,)``), ``masks``
        (:class:`~torchvision.tv_tensors.Mask`, uint8 ``(N, H, W)``), ``image_id``,
        ``area`` (float32 pixel counts) and ``iscrowd`` (int64 zeros), with ``N`` 1 or 0.

    Example:
        >>> m = np.zeros((4, 6), dtype=np.uint8); m[1:3, 2:5] = 1
        >>> t = make_target(m, 2, image_id="ISIC_0000001")
        >>> t["boxes"].tolist(), t["labels"].tolist(), t["area"].tolist()
        ([[2.0, 1.0, 5.0, 3.0]], [2], [6.0])
    """
    masks = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8) != 0).to(torch.uint8)[None]
    if not bool(masks.any()):
        masks = masks[:0]
    height, width = mask.shape
    return {
        "boxes": tv_tensors.BoundingBoxes(masks_to_boxes(masks), format="XYXY", canvas_size=(height, width)),
        "labels": torch.full((masks.shape[0],), label, dtype=torch.int64),
        "masks": tv_tensors.Mask(masks),
        "image_id": image_id,
        "area": masks.flatten(1).sum(dim=1).to(torch.float32),
        "iscrowd": torch.zeros((masks.shape[0],), dtype=torch.int64),
    }


class ISIC2017Dataset(torch.utils.data.Dataset):
    """ISIC 2017 images with lesion masks, boxes and diagnoses, in the official layout.

    Each item is ``(image, target)`` in torchvision's detection contract: ``image`` is a
    :class:`~torchvision.tv_tensors.Image` of shape ``(3, H, W)``, float32 in [0, 1];
    ``target`` is the dict built by :func:`~isicseg.data.make_target`, with one lesion instance whose
    box is the tight box of its mask. Items go straight into torchvision's detection
    models and through :mod:`torchvision.transforms.v2`.

    Args:
        root: Folder holding ``ISIC-2017_<Split>_Data/``,
            ``ISIC-2017_<Split>_Part1_GroundTruth/`` and
            ``ISIC-2017_<Split>_Part3_GroundTruth.csv`` for ``<Split>`` in ``Training``,
            ``Validation``, ``Test_v2``. Superpixel and metadata files are ignored.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        label_scheme: Name of a registered :class:`~isicseg.data.LabelScheme`
            (``"binary"``: 1 benign, 2 melanoma; ``"three_class"``: 1 nevus,
            2 seborrheic keratosis, 3 melanoma) or a scheme object.
        transforms: Called as ``transforms(image, target)``, e.g. a preset from
            :func:`isicseg.get_transform`.
        image_size: Decode size: ``None`` (original), an int (shorter side) or
            ``(height, width)``. JPEGs are decoded at a reduced DCT scale first, which
            makes large images several times faster to read.
        subset: Keep a seeded random subset: a count (int) or a fraction (float in (0, 1]).
        seed: Seed of the subset draw.
        binarize_masks: Accept masks with values other than 0/255 (foreground > 128).
        empty_masks: ``"error"`` refuses an all-zero mask; ``"keep"`` yields the image
            with no lesion instance.
        max_image_pixels: Larger images are refused as possible decompression bombs.
        cache_masks: When ``image_size`` is set, keep each resized mask in memory as
            packed bits (about 25 kB per 512x384 mask) after its first read, so later
            epochs skip decoding the full-size PNG. Each DataLoader worker keeps its own.
        download: Download the split's images, masks and labels into ``root`` first if
            they are not there (see :func:`~isicseg.data.download.download_isic2017`; the
            mirror comes from the ``ISICSEG_MIRROR`` environment variable if set).

    Raises:
        DatasetNotFoundError: If a folder or CSV of the split is missing.
        DatasetError: If the CSV is malformed or an image lacks its mask or CSV row.

    Example:
        >>> from isicseg.data.synthetic import write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"train": 4}, image_size=(96, 128))
        >>> ds = ISIC2017Dataset(root, "train", image_size=64)
        >>> image, target = ds[0]
        >>> image.shape, image.dtype, target["masks"].shape
        (torch.Size([3, 64, 85]), torch.float32, torch.Size([1, 64, 85]))
    """

    def __init__(
        self,
        root: str | Path,
        split: Split = "train",
        *,
        label_scheme: str | LabelScheme = "binary",
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
        # every option is checked before anything is downloaded or read
        split_paths(root, split)  # validates split
        scheme = get_label_scheme(label_scheme)
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
            from .download import download_isic2017

            download_isic2017(root, [split])
        self.root = Path(root)
        self.split = split
        self.label_scheme = scheme
        self.transforms = transforms
        self.image_size = image_size
        self.binarize_masks = binarize_masks
        self.empty_masks = empty_masks
        self.max_image_pixels = max_image_pixels
        records, problems = scan_split(self.root, split)
        if problems:
            more = (
                f" (and {len(problems) - 1} more problems; `isicseg check {self.root}` lists them all)"
                if len(problems) > 1
                else ""
            )
            raise DatasetError(f"{problems[0]}{more}")
        self.records: list[Record] = _draw_subset(records, subset, seed)
        self.cache_masks = cache_masks and image_size is not None
        self._sizes: dict[int, tuple[int, int]] = {}
        self._masks: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, Target]:
        record = self.records[index]
        original = self.original_height_and_width(index)
        pixels = read_image(record.image_path, self.image_size, max_pixels=self.max_image_pixels)
        mask = self._read_mask(index, original)
        if self.empty_masks == "error" and not mask.any():
            raise DatasetError(
                f"Mask {record.mask_path} is empty (no pixel is 255); every ISIC 2017 image "
                f"has a lesion. Pass empty_masks='keep' to read it as an image without one."
            )
        image = tv_tensors.Image(torch.from_numpy(pixels).permute(2, 0, 1).to(torch.float32).div_(255))
        target = make_target(mask, self.label_scheme.label_of(record.diagnosis), image_id=record.image_id)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def _read_mask(self, index: int, original: tuple[int, int]) -> np.ndarray:
        if index in self._masks:
            bits, shape = self._masks[index]
            return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape)
        record = self.records[index]
        mask = read_mask(
            record.mask_path,
            expected_height_and_width=original,
            image_size=self.image_size,
            binarize=self.binarize_masks,
            image_path=record.image_path,
            max_pixels=self.max_image_pixels,
        )
        if self.cache_masks:
            self._masks[index] = (np.packbits(mask), mask.shape)
        return mask

    def original_height_and_width(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of item ``index``'s image file (as viewers show it), read from its header."""
        if index not in self._sizes:
            path = self.records[index].image_path
            self._sizes[index] = read_height_and_width(path, max_pixels=self.max_image_pixels)
        return self._sizes[index]

    def true_mask(self, index: int) -> np.ndarray:
        """Item ``index``'s ground-truth lesion mask at the original resolution: ``(height, width)`` bool,
        as the ISIC scores compare it (not resized to ``image_size``, never cached)."""
        record = self.records[index]
        return read_mask(
            record.mask_path,
            expected_height_and_width=self.original_height_and_width(index),
            binarize=self.binarize_masks,
            image_path=record.image_path,
            max_pixels=self.max_image_pixels,
        ).astype(bool)

    def get_height_and_width(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of item ``index`` before transforms, read without decoding
        pixels (used for aspect-ratio grouped batching)."""
        return resized_height_and_width(*self.original_height_and_width(index), self.image_size)

    @property
    def image_ids(self) -> list[str]:
        """ISIC ids of the items, in item order."""
        return [r.image_id for r in self.records]

    @property
    def labels(self) -> list[int]:
        """Class label of each item under the dataset's label scheme."""
        return [self.label_scheme.label_of(r.diagnosis) for r in self.records]

    @property
    def diagnoses(self) -> list[str]:
        """The diagnosis of each item (``nevus``, ``seborrheic_keratosis`` or ``melanoma``)."""
        return [r.diagnosis for r in self.records]

    def class_counts(self) -> dict[str, int]:
        """Number of items per class name of the label scheme (background excluded)."""
        counts = Counter(self.labels)
        return {name: counts.get(label, 0) for label, name in enumerate(self.label_scheme.class_names) if label}

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.class_counts().items())
        return (
            f"ISIC2017Dataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
            f"label_scheme={self.label_scheme.name!r}, classes: {counts}, image_size={self.image_size!r})"
        )


def _check_options(
    *, root: Any, image_size: Any, empty_masks: Any, transforms: Any, subset: Any, seed: Any, **flags: Any
) -> None:
    """Refuse options of the wrong type when the dataset is made, not at its first item."""
    if empty_masks not in ("error", "keep"):
        raise ConfigError(f"empty_masks must be 'error' or 'keep', got {empty_masks!r}.")
    resized_height_and_width(1, 1, image_size)  # validates image_size
    if not isinstance(root, (str, Path)):
        raise ConfigError(f"root must be a folder path (str or Path); got {type(root).__name__} {root!r}.")
    if transforms is not None and not callable(transforms):
        raise ConfigError(
            "transforms must be callable (image, target) -> (image, target), or None; got "
            f"{type(transforms).__name__} {transforms!r}."
        )
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, (int, float))):
        raise ConfigError(f"subset must be a count (int), a fraction (float in (0, 1]) or None; got {subset!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an int in 0..2**32-1; got {seed!r}.")
    for name, value in flags.items():
        wanted = int if name == "max_image_pixels" else bool
        if not isinstance(value, wanted) or (wanted is int and (isinstance(value, bool) or value < 1)):
            raise ConfigError(f"{name} must be {'an int >= 1' if wanted is int else 'True or False'}; got {value!r}.")


def _draw_subset(records: list[Record], subset: int | float | None, seed: int) -> list[Record]:
    if subset is None:
        return records
    if isinstance(subset, bool) or not isinstance(subset, (int, float)):
        raise ConfigError(f"subset must be a count (int), a fraction (float in (0, 1]) or None; got {subset!r}.")
    if isinstance(subset, float):
        if not 0 < subset <= 1:
            raise ConfigError(f"A fractional subset must lie in (0, 1]; got {subset}.")
        subset = max(1, round(subset * len(records)))
    if not 0 < subset <= len(records):
        raise ConfigError(f"subset={subset} is outside 1..{len(records)} (the split has {len(records)} images).")
    keep = np.random.default_rng(seed).permutation(len(records))[:subset]
    return [records[i] for i in sorted(keep)]
