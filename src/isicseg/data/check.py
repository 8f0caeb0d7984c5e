"""Validate a whole ISIC 2017 data root up front and report every problem at once."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .._numbers import check_number
from ..exceptions import ConfigError, DatasetError, DatasetNotFoundError, DataWarning
from .ham10000 import find_ham10000_layout
from .io import read_height_and_width, read_image, read_mask
from .layout import SPLITS, check_root, scan_split, split_paths

__all__ = ["CheckReport", "check_dataset"]


@dataclass
class CheckReport:
    """What :func:`~isicseg.check_dataset` found.

    Attributes:
        root: The data root that was checked.
        counts: Readable images per split that was present.
        errors: One message per problem that stops reading (each names its file).
        warnings: Messages for data that reads but is probably unintended.
    """

    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no error was found and at least one split was present."""
        return not self.errors and bool(self.counts)

    def __str__(self) -> str:
        lines = [
            f"Checked {self.root}: "
            + (", ".join(f"{s} {n} images" for s, n in self.counts.items()) or "no split found")
        ]
        lines += [f"ERROR   {e}" for e in self.errors]
        lines += [f"WARNING {w}" for w in self.warnings]
        lines.append("OK" if self.ok else f"{len(self.errors)} error(s)")
        return "\n".join(lines)


def check_dataset(root: str | Path, splits: Iterable[str] | None = None, *, decode_size: int = 64) -> CheckReport:
    """Check every file of the given splits (all present ones by default).

    Each image is fully decoded (at a reduced DCT scale, so corrupt and truncated files
    are found quickly, and once more by libjpeg's strict decoder, which finds damaged
    JPEG bodies that Pillow decodes without a word) and each mask is checked for size,
    mode and values. A split with no readable image is an error. Nothing is
    raised for data problems: they are collected in the report.

    Args:
        root: The data root.
        splits: Splits to check; by default those whose image folder exists. A split
            named here but absent is an error.
        decode_size: Shorter side at which images are decoded while checking (16-4096).

    Example:
        >>> from isicseg.data.synthetic import write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"train": 2}, image_size=(64, 64))
        >>> check_dataset(root).ok
        True
    """
    if isinstance(splits, (str, bytes)):
        raise ConfigError(
            f"splits must be a list of split names or None; got one string {splits!r} (pass [{splits!r}])."
        )
    check_number(decode_size, "decode_size", low=16, high=4096, integer=True, where="check_dataset: ")
    root = check_root(root)
    report = CheckReport(root)
    if not root.is_dir():
        report.errors.append(
            f"Data root {root} is a file, not a folder." if root.exists() else f"Data root {root} does not exist."
        )
        return report
    if find_ham10000_layout(root) is not None:
        return _check_ham10000(root, report, decode_size)
    if splits is None:
        splits = [s for s in SPLITS if any(root.glob(f"ISIC-2017_{SPLITS[s]}_Data"))]
        if not splits:
            report.errors.append(
                f"{root} holds no ISIC-2017_<Training|Validation|Test_v2>_Data folder, and no HAM10000 metadata."
            )
    for split in splits:
        scanned = _scan(report, scan_split, root, split)
        if scanned is None:
            continue
        records, problems = scanned
        report.errors += [str(p) for p in problems]
        report.counts[split] = _check_records(records, report, decode_size)
        if not records and not problems:
            report.errors.append(
                f"The {split} split in {root} holds no image (no ISIC_nnnnnnn.jpg in "
                f"{split_paths(root, split).images}); a split needs at least one."
            )
    return report


def _scan(report: CheckReport, scan, *args, **kwargs):
    """``scan(*args, **kwargs)`` with its DataWarnings and its error (then ``None``) added to ``report``."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            scanned = scan(*args, **kwargs)
        report.warnings += [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
        return scanned
    except (DatasetError, DatasetNotFoundError) as error:
        report.errors.append(str(error))
        return None


def _check_records(records: list, report: CheckReport, decode_size: int) -> int:
    """Decode each record's image (strictly) and mask; add a problem per bad file; return how many read."""
    readable = 0
    for record in records:
        try:
            size = read_height_and_width(record.image_path)
            read_image(record.image_path, decode_size, strict=True)
            mask = read_mask(record.mask_path, expected_height_and_width=size, image_path=record.image_path)
            if not mask.any():
                raise DatasetError(f"Mask {record.mask_path} is empty (no pixel is 255).")
            readable += 1
        except DatasetError as error:
            report.errors.append(str(error))
    return readable


def _check_ham10000(root: Path, report: CheckReport, decode_size: int) -> CheckReport:
    """The same checks for a HAM10000 root (every diagnosis kept, so that every file is read)."""
    from .ham10000 import HAM10000_DX, scan_ham10000

    scanned = _scan(report, scan_ham10000, root, diagnosis_map={dx: "nevus" for dx in HAM10000_DX})
    if scanned is None:
        return report
    records, problems, left_out = scanned
    report.errors += [str(p) for p in problems]
    if left_out["no mask"]:
        report.warnings.append(
            f"{left_out['no mask']} images have no mask (no HAM10000_segmentations_lesion_tschandl/ folder): "
            "HAM10000Dataset leaves them out."
        )
    report.counts["ham10000"] = _check_records(records, report, decode_size)
    if not records and not problems:
        without = f" ({left_out['no mask']} images without a mask)" if left_out["no mask"] else ""
        report.errors.append(f"The HAM10000 root {root} holds no image that can be trained on{without}.")
    return report
