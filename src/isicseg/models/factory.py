"""``build_mask_rcnn``: the one place where models are made."""

from __future__ import annotations

import difflib
import inspect
import warnings
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from .._numbers import check_number
from ..checkpoint import Checkpoint, read_checkpoint
from ..exceptions import ConfigError, WeightsError
from ..identity import TORCHVISION_MASK_RESOLUTION, ModelIdentity, check_mask_resolution
from .backbones import BACKBONES, BackboneSpec, group_norm
from .heads import HEADS, attach_classifier
from .weights import load_coco_state_dict, load_torchvision_state_dict

__all__ = ["build_mask_rcnn", "load_model", "Norm", "PREDICTOR_PREFIXES", "FEW_PROPOSALS"]

FEW_PROPOSALS: dict[str, int] = {
    "rpn_pre_nms_top_n_train": 600,
    "rpn_post_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 64,
    "box_detections_per_img": 10,
}
"""Keyword arguments for :func:`~isicseg.build_mask_rcnn` that sample fewer proposals and RoIs than
torchvision's defaults (2000/1000 proposals, 512 RoIs per image, 100 detections). An
ISIC image holds one lesion, so this loses little and makes CPU training much faster."""

Norm = Literal["auto", "frozen_bn", "bn", "gn"]
PREDICTOR_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")


def _init_options(*classes: type) -> frozenset[str]:
    names = {n for cls in classes for n in inspect.signature(cls.__init__).parameters}
    return frozenset(names - {"self", "backbone", "num_classes", "kwargs", "min_size", "max_size"})


# what torchvision's MaskRCNN accepts (FasterRCNN passes the last two on to its transform)
_MASK_RCNN_OPTIONS = _init_options(MaskRCNN, FasterRCNN) | {"size_divisible", "fixed_size"}
# its numeric options and their ranges: counts are ints >= 1, thresholds and fractions lie in [0, 1]
_COUNT_OPTIONS = frozenset(
    n for n in _MASK_RCNN_OPTIONS if n.endswith(("_top_n_train", "_top_n_test", "_per_image", "_per_img"))
)
_FRACTION_OPTIONS = frozenset(n for n in _MASK_RCNN_OPTIONS if n.endswith(("_thresh", "_fraction")))
_COUNT_OPTIONS |= {"size_divisible"}


def _norm_layers(norm: str) -> tuple[Any, Any]:
    if norm == "frozen_bn":
        return FrozenBatchNorm2d, nn.BatchNorm2d
    if norm == "bn":
        return nn.BatchNorm2d, nn.BatchNorm2d
    return group_norm, group_norm


def _detect_norm(state: dict[str, torch.Tensor]) -> str:
    backbone_keys = [k for k in state if k.startswith("backbone.body.")]
    if any(k.endswith("running_var") for k in backbone_keys):
        return "bn" if any(k.endswith("num_batches_tracked") for k in backbone_keys) else "frozen_bn"
    return "gn"


def build_mask_rcnn(
    num_classes: int,
    pretrained: bool | str | Path | None = False,
    *,
    backbone: str = "resnet50_fpn",
    backbone_weights: str | Path | None = None,
    classifier: str | None = None,
    classifier_loss_weight: float = 1.0,
    mask_resolution: int = TORCHVISION_MASK_RESOLUTION,
    norm: Norm = "auto",
    trainable_layers: int | None = None,
    min_size: int | tuple[int, ...] = 800,
    max_size: int = 1333,
    label_scheme: str | None = None,
    download: bool = True,
    **kwargs: Any,
) -> MaskRCNN:
    """Build a Mask R-CNN for ISIC lesions, optionally from pretrained weights.

    The box and mask predictors are always sized for ``num_classes``; with COCO weights
    everything else is COCO-trained and the two predictors start fresh.

    Args:
        num_classes: Number of classes **including the background**, e.g. 3 for the
            ``binary`` label scheme (background, benign, melanoma).
        pretrained: ``"coco"`` (or ``True``) for torchvision's COCO weights, looked up in
            the TORCH_HOME cache and downloaded if missing and ``download`` is set;
            ``False``/``None``/``"none"`` for no pretraining; or the path of a local weight
            file (a state dict, e.g. torchvision's COCO ``.pth``, or an isicseg checkpoint).
        backbone: A name from :func:`~isicseg.list_backbones`.
        backbone_weights: Weights of the backbone's body alone (torchvision calls it
            ``weights_backbone``): ``"imagenet"`` for torchvision's ImageNet weights of
            that backbone, from the TORCH_HOME cache or downloaded as for COCO; the path
            of a local ImageNet classifier file (e.g. ``mobilenet_v2-b0353104.pth``); or
            ``None``/``"none"``. Not combined with ``pretrained``.
        classifier: Name of a lesion classifier head from
            :data:`~isicseg.models.heads.HEADS` (``"lesion_crop"``, ``"lesion_crop_tuned"``,
            ``"pooled"``), trained jointly; the
            model's category probabilities then come from it (see
            :mod:`isicseg.models.heads`). ``None`` keeps plain Mask R-CNN.
        classifier_loss_weight: Factor of the classifier's loss in the training loss (finite, >= 0).
        mask_resolution: Side of the mask head's output grid, which is stretched over each
            detection's box: torchvision's 28, or more (an even number up to 112) for finer
            outlines of large lesions, at four times the mask head's work per doubling.
        norm: Normalisation in the backbone. ``"auto"`` picks ``"frozen_bn"`` (frozen
            BatchNorm, as torchvision) with COCO or ImageNet weights, the file's own kind
            with a local file, and ``"gn"`` (GroupNorm) without pretraining: plain
            BatchNorm (``"bn"``) trained at small batches can learn running statistics
            that make eval-mode predictions collapse.
        trainable_layers: Backbone stages left trainable (0-5 for ResNets, 0-6 for
            MobileNets); default 3 with pretrained weights, all without.
        min_size: Shorter side the model resizes images to (a tuple trains at a random
            one of the sizes).
        max_size: Longest side allowed after resizing.
        label_scheme: The label scheme the classes follow (``"binary"``, ``"three_class"``),
            recorded in the model's identity so that its answers can be read without guessing.
        download: Allow downloading COCO weights when they are not cached.
        **kwargs: Passed on to :class:`~torchvision.models.detection.MaskRCNN` (e.g.
            ``box_detections_per_img``). Its counts (``*_top_n_*``, ``*_per_image``,
            ``box_detections_per_img``, ``size_divisible``) must be ints >= 1, its thresholds and
            fractions (``*_thresh``, ``*_fraction``) numbers in [0, 1].

    Returns:
        The model, with ``model.identity`` (a :class:`~isicseg.models.ModelIdentity`) saying
        how to rebuild and read it.

    Raises:
        ConfigError: On an invalid argument.
        UnknownNameError: On an unknown backbone (the message lists the available ones).
        WeightsNotFoundError: When COCO weights are not cached and cannot be downloaded.
        WeightsError: When a weight file does not fit the model.

    Example:
        >>> model = build_mask_rcnn(3, pretrained=False, backbone="resnet18_fpn", min_size=128, max_size=160)
        >>> model.roi_heads.box_predictor.cls_score.out_features
        3
        >>> _ = model.eval()
        >>> out = model([torch.rand(3, 96, 128)])
        >>> sorted(out[0])
        ['boxes', 'labels', 'masks', 'scores']
    """
    _check_arguments(num_classes, min_size, max_size, norm, label_scheme, kwargs)
    check_number(classifier_loss_weight, "classifier_loss_weight", low=0, where="build_mask_rcnn: ")
    check_mask_resolution(mask_resolution)
    spec = BACKBONES.get(backbone)
    classifier = None if classifier == "none" else classifier
    if classifier is not None:
        HEADS.get(classifier)  # unknown names fail before any weight is read
    weights = _resolve_weights(spec, backbone, pretrained, backbone_weights, norm, download)
    sizes = min_size if isinstance(min_size, tuple) else (min_size,)
    scheme = getattr(label_scheme, "name", label_scheme)  # a LabelScheme object or its name
    identity = ModelIdentity(
        num_classes,
        backbone,
        weights.norm,
        _trainable_layers(spec, backbone, trainable_layers, weights.source),
        tuple(sizes),
        max_size,
        classifier,
        float(classifier_loss_weight),
        scheme,
        weights.source,
        dict(kwargs),
        mask_resolution,
    )
    return _assemble(spec, identity, weights, download)


class _Weights(NamedTuple):
    """Where a model's initial weights come from, resolved."""

    state: dict[str, torch.Tensor] | None  # the whole model's
    body_state: dict[str, torch.Tensor] | None  # the backbone body's (ImageNet)
    source: str
    norm: str


MAX_CLASSES = 10_000
"""Most classes a model may have (LVIS, the largest common detection vocabulary, has 1,203)."""


def _check_arguments(
    num_classes: Any, min_size: Any, max_size: Any, norm: Any, label_scheme: Any, kwargs: dict[str, Any]
) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
        raise ConfigError(
            f"num_classes must be an int in 2..{MAX_CLASSES:,} that counts the background (e.g. 3 for background, "
            f"benign, melanoma); got {num_classes!r}."
        )
    sizes = min_size if isinstance(min_size, tuple) else (min_size,)
    if (
        not sizes
        or any(isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 4096 for v in (*sizes, max_size))
        or max_size < max(sizes)
    ):
        raise ConfigError(
            "min_size must be an int (or tuple of ints) and max_size an int, each in 16..4096, with max_size >= "
            "min_size; "
            f"got min_size={min_size!r}, max_size={max_size!r}."
        )
    unknown = sorted(set(kwargs) - _MASK_RCNN_OPTIONS)
    if unknown:
        hints = {k: difflib.get_close_matches(k, _MASK_RCNN_OPTIONS, n=1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {hints[k][0]!r}?)" if hints[k] else "") for k in unknown)
        raise ConfigError(
            f"Unknown keyword arguments to build_mask_rcnn: {said}. It passes on torchvision MaskRCNN's options: "
            f"{', '.join(sorted(_MASK_RCNN_OPTIONS))}."
        )
    for name, value in kwargs.items():
        if name in _COUNT_OPTIONS:
            check_number(value, name, low=1, integer=True, where="build_mask_rcnn: ")
        elif name in _FRACTION_OPTIONS:
            check_number(value, name, low=0, high=1, where="build_mask_rcnn: ")
    if norm not in ("auto", "frozen_bn", "bn", "gn"):
        raise ConfigError(f"norm must be one of 'auto', 'frozen_bn', 'bn', 'gn'; got {norm!r}.")
    if label_scheme is not None:
        from ..labels import get_label_scheme

        scheme = get_label_scheme(label_scheme)
        if scheme.num_classes != num_classes:
            raise ConfigError(
                f"Label scheme {scheme.name!r} has {scheme.num_classes} classes (background included); "
                f"num_classes={num_classes} was asked for."
            )


def _resolve_weights(
    spec: BackboneSpec, backbone: str, pretrained: Any, backbone_weights: Any, norm: str, download: bool
) -> _Weights:
    """Read the weights ``pretrained`` or ``backbone_weights`` name, and settle ``norm``."""
    pretrained = False if pretrained == "none" else pretrained
    backbone_weights = None if backbone_weights == "none" else backbone_weights
    if backbone_weights is not None and pretrained not in (False, None):
        raise ConfigError(
            "Pass either pretrained= (weights of the whole model) or backbone_weights= (the backbone alone), not "
            "both; "
            f"got pretrained={pretrained!r} and backbone_weights={backbone_weights!r}."
        )
    if backbone_weights is not None:
        if norm not in ("auto", "frozen_bn", "bn"):
            raise ConfigError(
                "ImageNet backbone weights need norm='frozen_bn' or 'bn' (they hold BatchNorm statistics); got "
                f"norm={norm!r}."
            )
        body_state = _imagenet_body_state(spec, backbone, backbone_weights, download)
        return _Weights(None, body_state, f"backbone:{backbone_weights}", "frozen_bn" if norm == "auto" else norm)
    if pretrained is True or pretrained == "coco":
        if spec.coco_weights is None:
            with_coco = [n for n in BACKBONES.names() if BACKBONES.get(n).coco_weights is not None]
            raise ConfigError(
                f"Backbone {backbone!r} has no COCO weights; backbones with COCO weights: {', '.join(with_coco)}."
            )
        if norm not in ("auto", "frozen_bn"):
            raise ConfigError(
                f"COCO weights need norm='frozen_bn' (their BatchNorm statistics are frozen); got norm={norm!r}."
            )
        return _Weights(load_coco_state_dict(spec.coco_weights, download=download), None, "coco", "frozen_bn")
    if isinstance(pretrained, (str, Path)):
        stored = read_checkpoint(pretrained)
        saved = stored.identity
        if saved is not None and saved.backbone != backbone:
            raise WeightsError(
                f"Weight file {pretrained} holds a {saved.backbone!r} model, but backbone={backbone!r} was asked for."
            )
        if norm == "auto":
            norm = saved.norm if saved is not None else _detect_norm(stored.weights)
        return _Weights(stored.weights, None, str(pretrained), norm)
    if pretrained not in (False, None):
        raise ConfigError(f"pretrained must be 'coco', True, False, None, 'none' or a file path; got {pretrained!r}.")
    if norm == "bn":
        warnings.warn(
            "norm='bn' without pretrained weights: BatchNorm statistics learnt at small batch sizes "
            "make eval-mode predictions poor; norm='gn' is the safe choice.",
            UserWarning,
            stacklevel=3,
        )
    return _Weights(None, None, "none", "gn" if norm == "auto" else norm)


def _trainable_layers(spec: BackboneSpec, backbone: str, trainable_layers: int | None, source: str) -> int:
    if trainable_layers is None:
        return 3 if source != "none" else spec.max_trainable_layers
    if not 0 <= trainable_layers <= spec.max_trainable_layers:
        raise ConfigError(
            f"trainable_layers must lie in 0..{spec.max_trainable_layers} for {backbone!r}; got {trainable_layers}."
        )
    if source == "none" and trainable_layers < spec.max_trainable_layers:
        raise ConfigError(
            "Without pretrained weights every backbone layer must train "
            f"(trainable_layers={spec.max_trainable_layers}); "
            f"got {trainable_layers}, which would freeze random weights."
        )
    return trainable_layers


def _assemble(spec: BackboneSpec, identity: ModelIdentity, weights: _Weights, download: bool) -> MaskRCNN:
    """The model ``identity`` describes, with ``weights`` loaded."""
    norm_layer, head_norm_layer = _norm_layers(identity.norm)
    sizes = identity.min_size
    model = spec.build(
        identity.num_classes,
        norm_layer=norm_layer,
        head_norm_layer=head_norm_layer,
        trainable_layers=identity.trainable_layers,
        min_size=sizes if len(sizes) > 1 else sizes[0],
        max_size=identity.max_size,
        **identity.options,
    )
    if identity.mask_resolution != TORCHVISION_MASK_RESOLUTION:
        _set_mask_resolution(model, identity.mask_resolution)
    source = weights.source
    if weights.body_state is not None:
        _load_body(model, weights.body_state, source)
    if identity.classifier is not None:
        model = attach_classifier(model, identity.classifier, loss_weight=identity.classifier_loss_weight)
        init_weights = getattr(model.classifier, "init_weights", None)
        if callable(init_weights) and (weights.state is None or source == "coco"):
            init_weights(download)  # a fresh head; a trained model's file holds its weights
    if weights.state is not None:
        _load_into(model, weights.state, source)
    model.identity = identity
    return model


def _set_mask_resolution(model: nn.Module, resolution: int) -> None:
    """Pool RoIs for the mask head at half ``resolution``: its transposed convolution doubles them."""
    pool = getattr(getattr(model, "roi_heads", None), "mask_roi_pool", None)
    if not isinstance(pool, MultiScaleRoIAlign):
        raise ConfigError(
            f"mask_resolution={resolution} needs a Mask R-CNN whose roi_heads.mask_roi_pool is torchvision's "
            f"MultiScaleRoIAlign; this backbone's model has {type(pool).__name__}. Keep mask_resolution="
            f"{TORCHVISION_MASK_RESOLUTION}."
        )
    model.roi_heads.mask_roi_pool = MultiScaleRoIAlign(
        pool.featmap_names,
        resolution // 2,
        pool.sampling_ratio,
        canonical_scale=pool.canonical_scale,
        canonical_level=pool.canonical_level,
    )


def _imagenet_body_state(
    spec: BackboneSpec, backbone: str, weights: str | Path, download: bool
) -> dict[str, torch.Tensor]:
    """The backbone body's state dict from torchvision's ImageNet file or a local one."""
    if weights == "imagenet":
        if spec.imagenet_weights is None:
            with_imagenet = [n for n in BACKBONES.names() if BACKBONES.get(n).imagenet_weights is not None]
            raise ConfigError(
                f"Backbone {backbone!r} has no ImageNet weights; backbones with ImageNet weights: "
                f"{', '.join(with_imagenet)}."
            )
        state = load_torchvision_state_dict(spec.imagenet_weights, download=download)
    elif isinstance(weights, (str, Path)):
        state = read_checkpoint(weights).weights
    else:
        raise ConfigError(f"backbone_weights must be 'imagenet', None, 'none' or a file path; got {weights!r}.")
    prefix = spec.imagenet_prefix
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def _load_body(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ImageNet weights into ``model.backbone.body``; every body tensor must be in the file.

    Keys of the file that the body does not hold (layers after the last returned stage,
    the classifier) are ignored, as torchvision does with ``weights_backbone``.
    """
    body = model.backbone.body
    own = body.state_dict()
    needed = {k for k in own if not k.endswith("num_batches_tracked")}
    missing = sorted(needed - set(state))
    mismatched = [k for k in needed & set(state) if state[k].shape != own[k].shape]
    if missing or mismatched:
        example = (
            missing[:2]
            if missing
            else f"{mismatched[0]} is {tuple(state[mismatched[0]].shape)} in the file, "
            f"{tuple(own[mismatched[0]].shape)} in the model"
        )
        raise WeightsError(
            f"Backbone weights from {source} do not fit the backbone: {len(missing)} tensors missing, "
            f"{len(mismatched)} of another "
            f"shape (e.g. {example}). Pass the ImageNet classifier file of the same architecture as backbone=."
        )
    body.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state``, skipping predictor weights sized for another class count."""
    own = model.state_dict()
    state = dict(state)
    if source == "coco":
        for key in list(state):
            if key.startswith(PREDICTOR_PREFIXES) and key in own and state[key].shape != own[key].shape:
                del state[key]  # COCO's 91-class predictors: fresh ones for num_classes
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    classes = "roi_heads.box_predictor.cls_score.weight"
    if classes in mismatched:  # a trained model's predictors are its answers: never re-initialised silently
        raise WeightsError(
            f"Weights from {source} are for a model with {state[classes].shape[0]} classes (background included), but "
            f"num_classes={own[classes].shape[0]} was asked for; its box and mask predictors would be replaced by "
            "random ones. "
            f"Drop num_classes= (--num-classes) to use the file's."
        )
    if mismatched:
        raise WeightsError(
            f"Weights from {source} do not fit the model: {len(mismatched)} tensors differ in shape, e.g. "
            f"{mismatched[0]} is {tuple(state[mismatched[0]].shape)} in the file but {tuple(own[mismatched[0]].shape)} "
            f"in the model. Check backbone= and norm=."
        )
    result = model.load_state_dict(state, strict=False)
    fresh = PREDICTOR_PREFIXES + (("classifier.",) if source == "coco" else ())  # COCO files have no lesion classifier
    missing = [k for k in result.missing_keys if not k.startswith(fresh)]
    if missing or result.unexpected_keys:
        raise WeightsError(
            f"Weights from {source} do not fit the model: {len(missing)} tensors missing (e.g. {missing[:2]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]}). Check backbone= and norm=."
        )


def load_model(path: str | Path | Checkpoint, **overrides: Any) -> MaskRCNN:
    """Rebuild a model from an isicseg checkpoint (or a state dict plus ``overrides``).

    The architecture comes from the checkpoint's ``identity`` (the model's
    :class:`~isicseg.models.ModelIdentity`); keyword arguments (fields of the identity,
    or ``build_mask_rcnn``'s names) override it, and are required for a plain state dict
    (at least ``num_classes`` and ``backbone``). The file is read once.

    Args:
        path: Path of an isicseg checkpoint (``last.pt``, ``best.pt``) or state dict, or
            what :func:`~isicseg.read_checkpoint` read from one.
        **overrides: Identity fields that replace the saved ones.

    Raises:
        ConfigError: If ``num_classes`` is known neither from the file nor the caller.
        WeightsError: If the file does not fit the model it describes.

    Example:
        >>> import torch
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, label_scheme="binary")
        >>> path = getfixture("tmp_path") / "model.pt"
        >>> torch.save({"model": model.state_dict(), "identity": model.identity.to_dict()}, path)
        >>> loaded = load_model(path)
        >>> loaded.identity.backbone, loaded.identity.label_scheme
        ('resnet18_fpn', 'binary')
    """
    stored = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    path, state = stored.path, stored.weights
    config = stored.identity.to_dict() if stored.identity is not None else {}
    if "extra" in overrides or "options" in overrides:
        raise ConfigError(
            "load_model: the MaskRCNN options come from the file; pass identity fields such as num_classes= or "
            "backbone=."
        )
    saved_backbone = config.get("backbone")
    if saved_backbone and overrides.get("backbone", saved_backbone) != saved_backbone:
        raise WeightsError(
            f"Weight file {path} holds a {saved_backbone!r} model, but backbone={overrides['backbone']!r} was "
            "asked for."
        )
    if "num_classes" in overrides and "label_scheme" not in overrides:
        config.pop("label_scheme", None)  # the saved scheme belongs to the saved class count
    config = {**config, **overrides}
    if "num_classes" not in config:
        raise ConfigError(f"{path} is a plain state dict; pass num_classes= (and backbone=) to load it.")
    spec = BACKBONES.get(config.get("backbone", "resnet50_fpn"))
    config.setdefault("backbone", "resnet50_fpn")
    config.setdefault("norm", _detect_norm(state))
    config.setdefault("trainable_layers", spec.max_trainable_layers)
    config.setdefault("min_size", 800)
    config.setdefault("max_size", 1333)
    config["pretrained"] = str(path)
    identity = ModelIdentity.from_dict(config, source=str(path))
    _check_arguments(
        identity.num_classes,
        identity.min_size,
        identity.max_size,
        identity.norm,
        identity.label_scheme,
        dict(identity.options),
    )
    check_mask_resolution(identity.mask_resolution, f"mask_resolution in {path}")
    if identity.classifier is not None:
        HEADS.get(identity.classifier)
    return _assemble(spec, identity, _Weights(state, None, str(path), identity.norm), download=False)
