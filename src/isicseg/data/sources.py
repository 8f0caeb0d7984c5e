"""Several datasets in one run: recognise a data root's kind, and concatenate datasets under one label scheme.

A run trains on ISIC 2017 and, say, HAM10000 together, while validation, checkpoint
selection and the reported scores stay on ISIC 2017 (the target task)::

    train = MultiSourceDataset({"isic2017": ISIC2017Dataset(isic, "train", label_scheme="three_class"),
                                "ham10000": HAM10000Dataset(ham, "all", label_scheme="three_class")})
    trainer = Trainer(TrainerConfig(source_shares=(0.5, 0.5), epoch_items=2000))
    trainer.fit(model, train, ISIC2017Dataset(isic, "validation", label_scheme="three_class"))

``source_shares`` makes each epoch draw that share of ``epoch_items`` from each source
(:class:`~isicseg.engine.EpochBatchSampler`), since the extra set is five times the
target set and a CPU budget is fixed.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from ..exceptions import ConfigError, DatasetNotFoundError
from ..labels import LabelScheme
from .ham10000 import find_ham10000_layout
from .layout import SPLITS, check_root

__all__ = ["MultiSourceDataset", "check_data_roots", "data_root_kind", "open_data_root"]


def data_root_kind(root: str | Path) -> Literal["isic2017", "ham10000"]:
    """What a data root holds, from its files: ``"isic2017"`` or ``"ham10000"``.

    Raises:
        DatasetNotFoundError: When it is neither, naming what was found.
    """
    root = check_root(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"Data root {root} {'is a file, not a folder' if root.exists() else 'does not exist'}."
        )
    if any(
        (root / f"ISIC-2017_{name}_Data").is_dir() or (root / f"ISIC-2017_{name}_Part3_GroundTruth.csv").is_file()
        for name in SPLITS.values()
    ):
        return "isic2017"
    if find_ham10000_layout(root) is not None:
        return "ham10000"
    found = sorted(p.name for p in root.iterdir())[:8]
    raise DatasetNotFoundError(
        f"Data root {root} is neither ISIC 2017 (ISIC-2017_<Split>_Data/ and its CSV) nor HAM10000 "
        "(HAM10000_metadata.csv or "
        "ISIC2018_Task3_Training_GroundTruth.csv); it holds "
        f"{', '.join(found) or 'nothing'}{' ...' if len(found) == 8 else ''}."
    )


def check_data_roots(data: Any) -> None:
    """Refuse a run's data roots before anything is written: the first must be ISIC 2017, none may repeat.

    Args:
        data: A :class:`~isicseg.config.DataConfig` (``root`` and ``extra_roots``).

    Raises:
        ConfigError: If ``root`` is HAM10000 (validation and evaluation read ISIC 2017 splits), or
            a root is given twice (its images would train twice per epoch).
        DatasetNotFoundError: If a root is neither kind.
    """
    roots = [Path(r) for r in (data.root, *data.extra_roots) if r]
    kinds = [_kind_or_none(roots[0]), *(data_root_kind(root) for root in roots[1:])] if roots else []
    if kinds and kinds[0] == "ham10000":
        isic = [str(root) for root, kind in zip(roots, kinds) if kind == "isic2017"]
        raise ConfigError(
            f"The first --data (data.root) must be an ISIC 2017 root: validation, checkpoint selection and evaluation "
            f"read its splits; {roots[0]} is HAM10000. Give the ISIC 2017 root first"
            + (f" (--data {isic[0]} --data {roots[0]})." if isic else ", then the extra roots.")
        )
    seen: dict[Path, Path] = {}
    for root in roots:
        real = root.resolve()
        if real in seen:
            raise ConfigError(
                f"Data root {root} is given twice (as {seen[real]} and {root}); its images would train twice per "
                "epoch. Give each root once (source_shares weigh the sources)."
            )
        seen[real] = root


def _kind_or_none(root: Path) -> str | None:
    """:func:`data_root_kind`, or ``None`` where the root is neither (the dataset's own reader then says what is
    missing)."""
    try:
        return data_root_kind(root)
    except DatasetNotFoundError:
        return None


def open_data_root(root: str | Path, split: str, **options: Any) -> torch.utils.data.Dataset:
    """The dataset of ``root``'s kind (see :func:`data_root_kind`): ``ISIC2017Dataset(root, split, ...)``, or
    ``HAM10000Dataset(root, "all" for the ISIC "train" split, ...)`` (HAM10000 has no official splits)."""
    from .dataset import ISIC2017Dataset
    from .ham10000 import HAM10000Dataset

    if data_root_kind(root) == "isic2017":
        return ISIC2017Dataset(root, split, **options)
    if split != "train":
        raise ConfigError(
            f"{root} is HAM10000, which is only trained on here; validation and evaluation stay on ISIC 2017 (got "
            f"split {split!r})."
        )
    options.pop("download", None)
    return HAM10000Dataset(root, "all", **options)


class MultiSourceDataset(torch.utils.data.ConcatDataset):
    """Datasets of one label scheme, concatenated; each item knows its source.

    Args:
        datasets: ``{source name: dataset}`` (or a list, named ``source0``, ``source1`` ...).
            Each must have a ``label_scheme``, and all the same one.
        classifier_sources: Sources whose labels train the lesion classifier head (default:
            all). The targets of the others carry ``train_classifier=False``: their masks,
            boxes and labels still train the detector, but the classifier head neither
            learns from nor collects them (an extra set that helps segmentation can hurt
            the melanoma score; see the "Training on real data" guide).

    Attributes:
        names: Source names, in order.
        label_scheme: The shared :class:`~isicseg.data.LabelScheme`.

    Example:
        >>> from isicseg.data.synthetic import write_synthetic_isic
        >>> from isicseg import ISIC2017Dataset
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"train": 3, "validation": 2},
        ...     image_size=(48, 64))
        >>> both = MultiSourceDataset({"a": ISIC2017Dataset(root, "train"), "b": ISIC2017Dataset(root, "validation")})
        >>> len(both), both.sources, both.source_counts()
        (5, ['a', 'a', 'a', 'b', 'b'], {'a': 3, 'b': 2})
    """

    def __init__(
        self,
        datasets: Mapping[str, torch.utils.data.Dataset] | list[torch.utils.data.Dataset],
        *,
        classifier_sources: Collection[str] | None = None,
    ) -> None:
        named = dict(datasets) if isinstance(datasets, Mapping) else {f"source{i}": d for i, d in enumerate(datasets)}
        if not named:
            raise ConfigError("MultiSourceDataset needs at least one dataset.")
        schemes = {name: getattr(d, "label_scheme", None) for name, d in named.items()}
        missing = [name for name, scheme in schemes.items() if not isinstance(scheme, LabelScheme)]
        if missing:
            raise ConfigError(
                "Every source needs a label_scheme (an ISIC2017Dataset, HAM10000Dataset or alike); "
                f"{', '.join(missing)} has none."
            )
        if len({scheme.name for scheme in schemes.values()}) > 1:
            raise ConfigError(
                "The sources have different label schemes "
                f"({', '.join(f'{n}: {s.name}' for n, s in schemes.items())}); "
                f"their labels would mean different things. Read every source with one label_scheme."
            )
        if classifier_sources is not None:
            if isinstance(classifier_sources, str):
                classifier_sources = [classifier_sources]
            unknown = sorted(set(classifier_sources) - set(named))
            if unknown:
                raise ConfigError(
                    f"classifier_sources names {', '.join(map(repr, unknown))}, which is not a source; the sources "
                    f"are {', '.join(map(repr, named))}."
                )
        _check_disjoint(named)
        super().__init__(list(named.values()))
        self.names = list(named)
        self.label_scheme = next(iter(schemes.values()))
        self.classifier_sources = tuple(self.names if classifier_sources is None else classifier_sources)

    def __getitem__(self, index: int) -> Any:
        item = super().__getitem__(index)
        source = self.names[bisect.bisect_right(self.cumulative_sizes, index if index >= 0 else len(self) + index)]
        if source not in self.classifier_sources:
            image, target = item
            item = image, {**target, "train_classifier": torch.tensor(False)}
        return item

    @property
    def sources(self) -> list[str]:
        """The source name of each item, in item order."""
        return [name for name, dataset in zip(self.names, self.datasets) for _ in range(len(dataset))]

    @property
    def labels(self) -> list[int]:
        """Class label of each item (for class-balanced sampling)."""
        return [label for dataset in self.datasets for label in dataset.labels]

    @property
    def records(self) -> list[Any]:
        """Every source's records, in item order."""
        return [record for dataset in self.datasets for record in dataset.records]

    @property
    def image_ids(self) -> list[str]:
        return [record.image_id for record in self.records]

    def source_counts(self) -> dict[str, int]:
        """Items per source."""
        return dict(Counter(self.sources))

    def get_height_and_width(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of item ``index`` before transforms (for aspect-ratio grouped batching)."""
        source = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[source - 1] if source else 0
        return self.datasets[source].get_height_and_width(index - start)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={len(d)}" for name, d in zip(self.names, self.datasets))
        classify = (
            "" if len(self.classifier_sources) == len(self.names) else f", classifier_sources={self.classifier_sources}"
        )
        return f"MultiSourceDataset({parts}, label_scheme={self.label_scheme.name!r}{classify})"


def _check_disjoint(named: Mapping[str, Any]) -> None:
    """Refuse one dataset given twice, or two sources that share images (they would train twice per epoch)."""
    owners: dict[str, str] = {}
    by_object: dict[int, str] = {}
    for name, dataset in named.items():
        if id(dataset) in by_object:
            raise ConfigError(
                f"Sources {by_object[id(dataset)]!r} and {name!r} are the same dataset; its images would train twice "
                "per epoch. Give each dataset once (source_shares weigh the sources)."
            )
        by_object[id(dataset)] = name
        ids = getattr(dataset, "image_ids", None)
        if ids is None:
            continue
        shared = [(owners[i], i) for i in ids if i in owners]
        if shared:
            other, first = shared[0]
            raise ConfigError(
                f"Sources {other!r} and {name!r} share {len(shared)} image id(s) (e.g. {first}); those images would "
                "train twice per epoch. Give each image to one source."
            )
        owners.update(dict.fromkeys(ids, name))
