"""A model's identity: what it is, enough to rebuild it and to read its answers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigError, WeightsError

__all__ = ["ModelIdentity"]

TORCHVISION_MASK_RESOLUTION = 28
"""Side of the mask head's output grid in torchvision's Mask R-CNN (its RoIs pooled at 14x14)."""
MASK_RESOLUTIONS = range(14, 113, 2)
"""Sides of the mask head's output grid :func:`~isicseg.build_mask_rcnn` accepts."""


def check_mask_resolution(value: Any, where: str = "mask_resolution") -> None:
    """Refuse a mask grid side that is not an even int in 14..112.

    Raises:
        ConfigError: Naming ``where`` (the argument or setting), the value and the allowed ones.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value not in MASK_RESOLUTIONS:
        raise ConfigError(
            f"{where} must be an even int in {MASK_RESOLUTIONS.start}..{MASK_RESOLUTIONS.stop - 1} (the side of the "
            f"mask head's output grid: {TORCHVISION_MASK_RESOLUTION} is torchvision's, 56 twice as fine); "
            f"got {value!r}."
        )


@dataclass(frozen=True)
class ModelIdentity:
    """What a model is: how to rebuild it and how to read its answers.

    :func:`~isicseg.build_mask_rcnn` sets it as ``model.identity``; every checkpoint
    carries it under the same name (``identity``, :meth:`to_dict`), and
    :func:`~isicseg.read_checkpoint` gives it back as this class; :func:`~isicseg.load_model`,
    :func:`~isicseg.evaluate`, :func:`~isicseg.predict` and the ``isicseg`` command read it,
    so a checkpoint alone says how to rebuild and use its model.

    Attributes:
        num_classes: Classes including the background.
        backbone: Registered backbone name (see :func:`~isicseg.list_backbones`).
        norm: Normalisation of the backbone (``frozen_bn``, ``bn`` or ``gn``).
        trainable_layers: Backbone stages that were trainable.
        min_size: Shorter side(s) the model resizes images to.
        max_size: Longest side allowed after resizing.
        classifier: Registered lesion classifier head, if any.
        classifier_loss_weight: Factor of the head's loss in training.
        label_scheme: Label scheme of the classes (``binary``, ``three_class``), when known.
        pretrained: Where the initial weights came from (``none``, ``coco``,
            ``backbone:imagenet``, or a file).
        options: Other keyword arguments of torchvision's ``MaskRCNN``.
        mask_resolution: Side of the mask head's output grid (28, torchvision's, in files
            written before the setting existed).

    Example:
        >>> identity = ModelIdentity(3, "resnet18_fpn", "gn", 5, (256,), 384, label_scheme="binary")
        >>> identity.image_size, ModelIdentity.from_dict(identity.to_dict()) == identity
        (256, True)
    """

    num_classes: int
    backbone: str
    norm: str
    trainable_layers: int
    min_size: tuple[int, ...]
    max_size: int
    classifier: str | None = None
    classifier_loss_weight: float = 1.0
    label_scheme: str | None = None
    pretrained: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    mask_resolution: int = TORCHVISION_MASK_RESOLUTION

    @property
    def image_size(self) -> int:
        """The size images are read at for this model (its largest ``min_size``)."""
        return max(self.min_size)

    def replace(self, **changes: Any) -> ModelIdentity:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint's ``identity`` entry, one key per field."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["min_size"] = list(self.min_size) if len(self.min_size) > 1 else self.min_size[0]
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> ModelIdentity:
        """The identity :meth:`to_dict` wrote (also 0.2.0's, whose ``options`` key was ``extra``).

        Raises:
            WeightsError: For an unknown key or a missing one (naming ``source``, the file).
        """
        where = f" in {source}" if source else ""
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)} | {"extra"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WeightsError(
                f"The model description{where} has unknown keys {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}."
            )
        needed = ("num_classes", "backbone", "norm", "trainable_layers", "min_size", "max_size")
        missing = [k for k in needed if k not in data]
        if missing:
            raise WeightsError(
                f"The model description{where} lacks {', '.join(missing)}; it has "
                f"{', '.join(sorted(data)) or 'nothing'}."
            )
        sizes = data["min_size"]
        data["min_size"] = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
        data["options"] = dict(data.pop("options", None) or data.pop("extra", None) or {})
        data.pop("extra", None)
        if data.get("classifier_loss_weight") is None:
            data.pop("classifier_loss_weight", None)
        data["pretrained"] = str(data.get("pretrained") or "none")
        try:
            return cls(**data)
        except TypeError as error:
            raise WeightsError(f"The model description{where} could not be read: {error}.") from None

    def check_label_scheme(self, scheme: str) -> None:
        """Refuse a label scheme with another class count, or another scheme than the model's own.

        Raises:
            ConfigError: Naming both schemes and class counts.
        """
        from .labels import get_label_scheme

        asked = get_label_scheme(scheme)
        if asked.num_classes != self.num_classes:
            raise ConfigError(
                f"Label scheme {asked.name!r} has {asked.num_classes} classes (background included) but the model "
                f"has {self.num_classes}."
            )
        if self.label_scheme is not None and asked.name != self.label_scheme:
            raise ConfigError(
                f"The model was trained with the {self.label_scheme!r} label scheme, not {asked.name!r}; its "
                "labels mean other classes."
            )
