"""A whole run's settings as typed, frozen dataclasses: data, model, trainer, evaluation.

:class:`RunConfig` composes :class:`DataConfig`, :class:`ModelConfig`,
:class:`~isicseg.TrainerConfig` and :class:`EvalConfig`. It is what ``isicseg train``
runs, what ``--config FILE`` reads, what every run folder's ``config.json`` and every
checkpoint hold, and what ``isicseg train``'s flags are generated from (one flag per
field, its help text from the field's documentation below), so a new field appears in
the CLI, the saved configuration and these docs at once.

Example:
    >>> config = RunConfig(data=DataConfig(root="data/isic2017", image_size=256),
    ...     model=ModelConfig(backbone="resnet18_fpn"))
    >>> RunConfig.from_dict(config.to_dict()) == config
    True
    >>> config.replace(epochs=3, tta=True).trainer.epochs
    3
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._typed import check_types, from_dict, load_json, to_dict
from .engine.config import TrainerConfig
from .exceptions import ConfigError
from .identity import TORCHVISION_MASK_RESOLUTION, check_mask_resolution
from .inference import AnswerRule, InferenceConfig, check_mask_threshold

__all__ = [
    "DataConfig",
    "ModelConfig",
    "EvalConfig",
    "RunConfig",
    "SECTIONS",
    "RECIPES",
    "list_recipes",
    "resolve_recipe",
]

RECIPES = Path(__file__).with_name("configs")
"""The folder of recipe files shipped with isicseg (``configs/`` in the repository)."""


@dataclass(frozen=True)
class DataConfig:
    """Which images a run reads, and how.

    Args:
        root: ISIC 2017 data root in the official layout (the flag is ``--data``; given
            again, ``--data`` adds extra_roots).
        extra_roots: Further training data: HAM10000 or ISIC 2017 roots (their kind is
            recognised from their files), trained on with root's train split; validation,
            checkpoint selection and evaluation stay on root (the flag is a second ``--data``).
        extra_train_classifier: Whether extra_roots' labels train the lesion classifier head
            too; ``False``: their masks and boxes train the detector only and the head learns
            from root's images alone (see :class:`~isicseg.data.sources.MultiSourceDataset`'s
            ``classifier_sources``).
        image_size: Shorter image side for decoding and for the model.
        label_scheme: ``binary`` (benign, melanoma) or ``three_class`` (nevus,
            seborrheic keratosis, melanoma), or a plugin's.
        subset: Train on a seeded random subset: a count, or a fraction below 1.
        val_split: Split validated each epoch (``None`` or ``""``: no validation).
        eval_split: Split the best checkpoint is evaluated on after training (``None``
            or ``""``: none).
        augment: Training augmentation preset (``train``), or ``None`` for none.
    """

    root: str | None = field(default=None, metadata={"flag": "data"})
    extra_roots: tuple[str, ...] = field(default=(), metadata={"flag": None})
    extra_train_classifier: bool = True
    image_size: int = 512
    label_scheme: str = "binary"
    subset: int | float | None = None
    val_split: str | None = "validation"
    eval_split: str | None = "test"
    augment: str | None = "train"

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("val_split", "eval_split", "augment"):
            if getattr(self, name) in ("", "none"):
                object.__setattr__(self, name, None)
        for name in ("val_split", "eval_split"):
            if getattr(self, name) not in (None, "train", "validation", "test"):
                raise ConfigError(
                    f"DataConfig.{name} must be 'train', 'validation', 'test' or None; got {getattr(self, name)!r}."
                )
        if not 16 <= self.image_size <= 4096:
            raise ConfigError(f"DataConfig.image_size must lie in 16..4096 pixels; got {self.image_size}.")
        if self.subset is not None and not (self.subset >= 1 if isinstance(self.subset, int) else 0 < self.subset <= 1):
            raise ConfigError(f"DataConfig.subset must be a count >= 1 or a fraction in (0, 1]; got {self.subset!r}.")


@dataclass(frozen=True)
class ModelConfig:
    """Which model a run trains (see :func:`~isicseg.build_mask_rcnn`).

    Args:
        backbone: ``resnet50_fpn``, ``resnet50_fpn_v2``, ``resnet18_fpn``,
            ``mobilenet_v2_fpn``, ``mobilenet_v3_large_fpn`` or a plugin's.
        pretrained: Weights of the whole model: ``coco``, ``none`` or a weight file.
        backbone_weights: Weights of the backbone alone: ``imagenet``, ``None`` or an
            ImageNet classifier file (with ``pretrained`` ``none``).
        classifier: Lesion classifier head from :data:`~isicseg.models.heads.HEADS`
            (``lesion_crop``, ``lesion_crop_tuned``, ``pooled`` or a plugin's), or ``None``;
            p(melanoma) then comes from it.
        proposals: ``default``, or ``few`` (fewer RPN proposals and RoIs, see
            :data:`~isicseg.models.factory.FEW_PROPOSALS`: much faster on CPU).
        rois_per_image: RoIs sampled per training image for the box and mask heads
            (a quarter of them positive at most), or ``None`` for the ``proposals`` level's
            (512 ``default``, 64 ``few``). Fewer make a step cheaper: the mask head runs on
            each positive RoI.
        mask_resolution: Side of the mask head's output grid over each detection's box:
            28 (torchvision's) or another even number up to 112 (56 draws large lesions'
            outlines twice as finely; see :func:`~isicseg.build_mask_rcnn`).
    """

    backbone: str = "resnet50_fpn"
    pretrained: str = "coco"
    backbone_weights: str | None = None
    classifier: str | None = None
    proposals: Literal["default", "few"] = "default"
    rois_per_image: int | None = None
    mask_resolution: int = TORCHVISION_MASK_RESOLUTION

    def __post_init__(self) -> None:
        check_types(self)
        check_mask_resolution(self.mask_resolution, "ModelConfig.mask_resolution")
        if self.rois_per_image is not None and self.rois_per_image < 4:
            raise ConfigError(
                "ModelConfig.rois_per_image must be an int >= 4 (a quarter are positives) or None; got "
                f"{self.rois_per_image}."
            )
        for name in ("backbone_weights", "classifier"):
            if getattr(self, name) in ("", "none"):
                object.__setattr__(self, name, None)


@dataclass(frozen=True)
class EvalConfig:
    """How a run picks its best checkpoint and answers in its final evaluation.

    Args:
        monitor: Metric that picks ``best.pt`` (``val_jaccard``, ``val_loss``,
            ``val_melanoma_auc``, ...).
        patience: Early stopping after this many validations without improvement
            (``None``: never).
        tta: Final evaluation averages each image with its mirror image.
        postprocess: Final evaluation keeps the largest mask component, holes filled.
        answer_rule: Which detection answers for an image in validation and the final
            evaluation: ``top`` or ``central`` (see :func:`~isicseg.inference.pick_detection`).
        mask_threshold: Mask probability above which a pixel is lesion, in validation and
            the final evaluation (strictly between 0 and 1).
    """

    monitor: str = "val_jaccard"
    patience: int | None = None
    tta: bool = False
    postprocess: bool = False
    answer_rule: AnswerRule = "top"
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        check_types(self)
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"EvalConfig.patience must be an int >= 1 or None; got {self.patience}.")
        check_mask_threshold(self.mask_threshold, "EvalConfig")


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "trainer": TrainerConfig, "eval": EvalConfig}
"""The sections of a :class:`RunConfig` by attribute name."""

# settings of isicseg 0.1's config.json ("extra" dict beside the trainer fields), by section
_LEGACY = {
    "data": "data.root",
    "image_size": "data.image_size",
    "label_scheme": "data.label_scheme",
    "subset": "data.subset",
    "val_split": "data.val_split",
    "eval_split": "data.eval_split",
    "augment": "data.augment",
    "backbone": "model.backbone",
    "pretrained": "model.pretrained",
    "backbone_weights": "model.backbone_weights",
    "classifier": "model.classifier",
    "proposals": "model.proposals",
    "monitor": "eval.monitor",
    "patience": "eval.patience",
    "tta": "eval.tta",
    "postprocess": "eval.postprocess",
    "name": "name",
}


@dataclass(frozen=True)
class RunConfig:
    """Everything ``isicseg train`` needs to reproduce a run.

    Args:
        name: Run folder name under the output folder (``None``: a timestamp).
        data: Data settings.
        model: Model settings.
        trainer: Trainer settings.
        eval: Checkpoint selection and final evaluation settings.
    """

    name: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check_types(self)

    @property
    def inference(self) -> InferenceConfig:
        """The :class:`~isicseg.InferenceConfig` of the run's validation and final evaluation.

        It takes the ``eval`` section's ``tta``, ``postprocess``, ``answer_rule`` and
        ``mask_threshold``, and the trainer's ``eval_batch_size``, ``precision`` and
        ``channels_last`` (a run answers in the precision it trains in).

        Example:
            >>> config = RunConfig().replace(tta=True, eval_batch_size=8, precision="bf16")
            >>> config.inference  # doctest: +NORMALIZE_WHITESPACE
            InferenceConfig(batch_size=8, tta=True, postprocess=False, precision='bf16', channels_last=False,
                            answer_rule='top', mask_threshold=0.5)
        """
        trainer = self.trainer
        return InferenceConfig(
            batch_size=trainer.eval_batch_size,
            tta=self.eval.tta,
            postprocess=self.eval.postprocess,
            answer_rule=self.eval.answer_rule,
            mask_threshold=self.eval.mask_threshold,
            precision=trainer.precision,
            channels_last=trainer.channels_last,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, one object per section."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> RunConfig:
        """Build from :meth:`to_dict`'s form; unknown keys and wrong types are refused,
        naming ``source`` (e.g. the file) and the field. A ``config.json`` of isicseg 0.1
        (trainer fields plus an ``extra`` dict) is read too."""
        if isinstance(values, dict) and "extra" in values:
            values = _from_legacy(values, source)
        return from_dict(cls, values, source)

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """Read a JSON file written by :meth:`save` (or by hand), e.g. one of ``configs/``."""
        return cls.from_dict(load_json(path, "Run config"), str(path))

    def save(self, path: str | Path) -> None:
        """Write the configuration as JSON (to a temporary file renamed into place: never half a file)."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        temporary.replace(path)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with fields changed by their flat names (``epochs=3``, ``backbone=...``,
        ``root=...``); ``name`` is the run's name.

        Raises:
            ConfigError: For a name that is no field of any section.
        """
        sections: dict[str, dict[str, Any]] = {key: {} for key in SECTIONS}
        top: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "name":
                top["name"] = value
                continue
            section = flat_fields().get(key)
            if section is None:
                raise ConfigError(f"Unknown run setting {key!r}; allowed: name, {', '.join(sorted(flat_fields()))}.")
            sections[section][key] = value
        updated = {key: dataclasses.replace(getattr(self, key), **values) for key, values in sections.items() if values}
        return dataclasses.replace(self, **top, **updated)


def list_recipes() -> list[str]:
    """Names of the shipped recipes, for ``isicseg train --config NAME``.

    Example:
        >>> {"isic2017_cpu", "isic2017_demo", "isic2017_resnet50_coco_gpu"} <= set(list_recipes())
        True
    """
    return sorted(p.stem for p in RECIPES.glob("*.json"))


def resolve_recipe(path_or_name: str | Path) -> Path:
    """A config file path as given, or the shipped recipe of that name.

    Raises:
        ConfigError: If it is neither an existing file nor a recipe name.
    """
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = RECIPES / f"{path_or_name}.json"
    if shipped.is_file():
        return shipped
    if path.exists():
        raise ConfigError(
            f"Config file {path} is a {'folder' if path.is_dir() else 'special file'}; expected a JSON file or a "
            f"recipe name ({', '.join(list_recipes())})."
        )
    raise ConfigError(f"Config file {path} does not exist and is no recipe name; recipes: {', '.join(list_recipes())}.")


def flat_fields() -> dict[str, str]:
    """Every section field's name and its section (``{"epochs": "trainer", ...}``)."""
    return {f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


def _from_legacy(values: dict[str, Any], source: str | None) -> dict[str, Any]:
    trainer = {k: v for k, v in values.items() if k != "extra"}
    out: dict[str, Any] = {"trainer": trainer, "data": {}, "model": {}, "eval": {}}
    extra = values.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise ConfigError(
            f"'extra' in {source or 'the config'} must be an object of run settings ({', '.join(_LEGACY)}); got "
            f"{type(extra).__name__} {extra!r}."
        )
    for key, value in (values.get("extra") or {}).items():
        if key not in _LEGACY:
            raise ConfigError(
                f"Unknown run setting {key!r} in {source or 'the config'}; allowed: {', '.join(_LEGACY)}."
            )
        path = _LEGACY[key].split(".")
        if len(path) == 1:
            out[path[0]] = value
        else:
            out[path[0]][path[1]] = value
    return out
