"""The ISIC label vocabulary: diagnoses, the challenge's scored categories, and label schemes
(how diagnoses become detection labels). A low module: data, models, inference and
evaluation all read it.

ISIC 2017 Part 3 gives each image two flags, ``melanoma`` and ``seborrheic_keratosis``;
an image with neither is a nevus. A :class:`LabelScheme` maps the diagnosis to the
integer label of the lesion instance (0 is always the background, as torchvision's
detection models expect) and knows the class names.

Schemes live in :data:`LABEL_SCHEMES`; add your own with
``LABEL_SCHEMES.register("name", LabelScheme(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .exceptions import ConfigError
from .registry import Registry

__all__ = [
    "CATEGORIES",
    "Diagnosis",
    "DIAGNOSES",
    "LabelScheme",
    "LABEL_SCHEMES",
    "get_label_scheme",
    "list_label_schemes",
]

Diagnosis = Literal["nevus", "seborrheic_keratosis", "melanoma"]
DIAGNOSES: tuple[Diagnosis, ...] = ("nevus", "seborrheic_keratosis", "melanoma")
CATEGORIES: tuple[Diagnosis, ...] = ("melanoma", "seborrheic_keratosis")
"""The ISIC 2017 Part 3 categories, scored one against the rest (the columns of ``classification.csv``)."""


@dataclass(frozen=True)
class LabelScheme:
    """A mapping from diagnosis to class label.

    Args:
        name: Registry name of the scheme.
        class_names: Names indexed by label; index 0 must be ``"background"``.
        labels: Label of each diagnosis (``nevus``, ``seborrheic_keratosis``, ``melanoma``).

    Example:
        >>> scheme = get_label_scheme("binary")
        >>> scheme.num_classes, scheme.label_of("melanoma"), scheme.class_names[1]
        (3, 2, 'benign')
    """

    name: str
    class_names: tuple[str, ...]
    labels: dict[str, int]

    def __post_init__(self) -> None:
        if not self.class_names or self.class_names[0] != "background":
            raise ConfigError(
                f"Label scheme {self.name!r}: class_names must start with 'background', got {self.class_names!r}."
            )
        missing = [d for d in DIAGNOSES if d not in self.labels]
        if missing:
            raise ConfigError(
                f"Label scheme {self.name!r} gives no label for {missing}; it must cover {list(DIAGNOSES)}."
            )
        bad = {d: v for d, v in self.labels.items() if not 1 <= v < len(self.class_names)}
        if bad:
            raise ConfigError(
                f"Label scheme {self.name!r}: labels {bad} are outside 1..{len(self.class_names) - 1} "
                f"(0 is the background, class_names has {len(self.class_names)} entries)."
            )

    @property
    def num_classes(self) -> int:
        """Number of classes including the background (what ``build_mask_rcnn`` takes)."""
        return len(self.class_names)

    def label_of(self, diagnosis: str) -> int:
        """Label of a diagnosis (``"nevus"``, ``"seborrheic_keratosis"`` or ``"melanoma"``)."""
        try:
            return self.labels[diagnosis]
        except KeyError:
            raise ConfigError(f"Unknown diagnosis {diagnosis!r}; expected one of {list(DIAGNOSES)}.") from None

    def diagnoses_of(self, label: int) -> list[str]:
        """The diagnoses that map to ``label``."""
        return [d for d, v in self.labels.items() if v == label]


LABEL_SCHEMES: Registry[LabelScheme] = Registry("label_schemes")
"""Label schemes by name (``binary``, ``three_class``); plugins use the
``isicseg.label_schemes`` entry-point group."""

LABEL_SCHEMES.register(
    "binary",
    LabelScheme(
        "binary",
        ("background", "benign", "melanoma"),
        {"nevus": 1, "seborrheic_keratosis": 1, "melanoma": 2},
    ),
)
LABEL_SCHEMES.register(
    "three_class",
    LabelScheme(
        "three_class",
        ("background", "nevus", "seborrheic_keratosis", "melanoma"),
        {"nevus": 1, "seborrheic_keratosis": 2, "melanoma": 3},
    ),
)


def get_label_scheme(label_scheme: str | LabelScheme) -> LabelScheme:
    """Return the scheme registered under a name (a :class:`LabelScheme` passes through)."""
    return label_scheme if isinstance(label_scheme, LabelScheme) else LABEL_SCHEMES.get(label_scheme)


def list_label_schemes() -> list[str]:
    """Names of the registered label schemes.

    Example:
        >>> list_label_schemes()[:2]
        ['binary', 'three_class']
    """
    return LABEL_SCHEMES.names()
