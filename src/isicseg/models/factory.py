"""``build_mask_rcnn``: the one place where models are made."""

from __future__ import annotations

import difflib
import inspect
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.ops.misc import FrozenBatchNorm2d

from ..exceptions import ConfigError, WeightsError
from .backbones import BACKBONES, BackboneSpec, group_norm
from .heads import HEADS, attach_classifier
from .weights import load_coco_state_dict, load_torchvision_state_dict, load_weight_file

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
ISIC image holds one lesion, so this loses little and makes CPU training 3-4x faster."""

Norm = Literal["auto", "frozen_bn", "bn", "gn"]
PREDICTOR_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")


def _init_options(*classes: type) -> frozenset[str]:
    names = {n for cls in classes for n in inspect.signature(cls.__init__).parameters}
    return frozenset(names - {"self", "backbone", "num_classes", "kwargs", "min_size", "max_size"})


# what torchvision's MaskRCNN accepts (FasterRCNN passes the last two on to its transform)
_MASK_RCNN_OPTIONS = _init_options(MaskRCNN, FasterRCNN) | {"size_divisible", "fixed_size"}


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
    norm: Norm = "auto",
    trainable_layers: int | None = None,
    min_size: int | tuple[int, ...] = 800,
    max_size: int = 1333,
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
            :data:`~isicseg.models.heads.HEADS` (``"pooled"``), trained jointly; the
            model's category probabilities then come from it (see
            :mod:`isicseg.models.heads`). ``None`` keeps plain Mask R-CNN.
        classifier_loss_weight: Factor of the classifier's loss in the training loss.
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
        download: Allow downloading COCO weights when they are not cached.
        **kwargs: Passed on to :class:`~torchvision.models.detection.MaskRCNN` (e.g.
            ``box_detections_per_img``).

    Returns:
        The model, with ``model.isicseg_config`` holding the arguments needed to rebuild it.

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
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(
            f"num_classes must be an int >= 2 that counts the background (e.g. 3 for background, benign, melanoma); got {num_classes!r}."
        )
    sizes = min_size if isinstance(min_size, tuple) else (min_size,)
    if not sizes or any(isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 4096 for v in (*sizes, max_size)) or max_size < max(sizes):
        raise ConfigError(
            f"min_size must be an int (or tuple of ints) and max_size an int, each in 16..4096, with max_size >= min_size; "
            f"got min_size={min_size!r}, max_size={max_size!r}."
        )
    unknown = sorted(set(kwargs) - _MASK_RCNN_OPTIONS)
    if unknown:
        hints = {k: difflib.get_close_matches(k, _MASK_RCNN_OPTIONS, n=1) for k in unknown}
        said = ", ".join(f"{k!r}" + (f" (did you mean {hints[k][0]!r}?)" if hints[k] else "") for k in unknown)
        raise ConfigError(f"Unknown keyword arguments to build_mask_rcnn: {said}. It passes on torchvision MaskRCNN's options: {', '.join(sorted(_MASK_RCNN_OPTIONS))}.")
    if norm not in ("auto", "frozen_bn", "bn", "gn"):
        raise ConfigError(f"norm must be one of 'auto', 'frozen_bn', 'bn', 'gn'; got {norm!r}.")
    spec = BACKBONES.get(backbone)
    classifier = None if classifier == "none" else classifier
    if classifier is not None:
        HEADS.get(classifier)  # unknown names fail before any weight is read
    pretrained = False if pretrained == "none" else pretrained
    backbone_weights = None if backbone_weights == "none" else backbone_weights
    if backbone_weights is not None and pretrained not in (False, None):
        raise ConfigError(
            f"Pass either pretrained= (weights of the whole model) or backbone_weights= (the backbone alone), not both; "
            f"got pretrained={pretrained!r} and backbone_weights={backbone_weights!r}."
        )

    state: dict[str, torch.Tensor] | None = None
    body_state: dict[str, torch.Tensor] | None = None
    source = "none"
    if backbone_weights is not None:
        if norm not in ("auto", "frozen_bn", "bn"):
            raise ConfigError(f"ImageNet backbone weights need norm='frozen_bn' or 'bn' (they hold BatchNorm statistics); got norm={norm!r}.")
        body_state, source = _imagenet_body_state(spec, backbone, backbone_weights, download), f"backbone:{backbone_weights}"
        norm = "frozen_bn" if norm == "auto" else norm
    elif pretrained is True or pretrained == "coco":
        if spec.coco_weights is None:
            with_coco = [n for n in BACKBONES.names() if BACKBONES.get(n).coco_weights is not None]
            raise ConfigError(f"Backbone {backbone!r} has no COCO weights; backbones with COCO weights: {', '.join(with_coco)}.")
        if norm not in ("auto", "frozen_bn"):
            raise ConfigError(f"COCO weights need norm='frozen_bn' (their BatchNorm statistics are frozen); got norm={norm!r}.")
        state, source, norm = load_coco_state_dict(spec.coco_weights, download=download), "coco", "frozen_bn"
    elif isinstance(pretrained, (str, Path)):
        state, config = load_weight_file(pretrained)
        source = str(pretrained)
        saved_backbone = config.get("backbone")
        if saved_backbone and saved_backbone != backbone:
            raise WeightsError(f"Weight file {pretrained} holds a {saved_backbone!r} model, but backbone={backbone!r} was asked for.")
        if norm == "auto":
            norm = config.get("norm") or _detect_norm(state)
    elif pretrained not in (False, None):
        raise ConfigError(f"pretrained must be 'coco', True, False, None, 'none' or a file path; got {pretrained!r}.")
    if norm == "auto":
        norm = "gn"
    if norm == "bn" and source == "none":
        warnings.warn(
            "norm='bn' without pretrained weights: BatchNorm statistics learnt at small batch sizes "
            "make eval-mode predictions poor; norm='gn' is the safe choice.",
            UserWarning,
            stacklevel=2,
        )

    if trainable_layers is None:
        trainable_layers = 3 if source != "none" else spec.max_trainable_layers
    if not 0 <= trainable_layers <= spec.max_trainable_layers:
        raise ConfigError(f"trainable_layers must lie in 0..{spec.max_trainable_layers} for {backbone!r}; got {trainable_layers}.")
    if source == "none" and trainable_layers < spec.max_trainable_layers:
        raise ConfigError(
            f"Without pretrained weights every backbone layer must train (trainable_layers={spec.max_trainable_layers}); "
            f"got {trainable_layers}, which would freeze random weights."
        )

    norm_layer, head_norm_layer = _norm_layers(norm)
    model = spec.build(
        num_classes,
        norm_layer=norm_layer,
        head_norm_layer=head_norm_layer,
        trainable_layers=trainable_layers,
        min_size=min_size,
        max_size=max_size,
        **kwargs,
    )
    if body_state is not None:
        _load_body(model, body_state, str(backbone_weights))
    if classifier is not None:
        model = attach_classifier(model, classifier, loss_weight=classifier_loss_weight)
        init_weights = getattr(model.classifier, "init_weights", None)
        if callable(init_weights) and (source in ("none", "coco") or source.startswith("backbone:")):
            init_weights(download)  # a fresh head; a trained model's file holds its weights
    if state is not None:
        _load_into(model, state, source)
    model.isicseg_config = {
        "num_classes": num_classes,
        "backbone": backbone,
        "norm": norm,
        "trainable_layers": trainable_layers,
        "min_size": list(min_size) if isinstance(min_size, tuple) else min_size,
        "max_size": max_size,
        "pretrained": source,
        "classifier": classifier,
        "classifier_loss_weight": classifier_loss_weight,
        "extra": dict(kwargs),
    }
    return model


def _imagenet_body_state(spec: BackboneSpec, backbone: str, weights: str | Path, download: bool) -> dict[str, torch.Tensor]:
    """The backbone body's state dict from torchvision's ImageNet file or a local one."""
    if weights == "imagenet":
        if spec.imagenet_weights is None:
            with_imagenet = [n for n in BACKBONES.names() if BACKBONES.get(n).imagenet_weights is not None]
            raise ConfigError(f"Backbone {backbone!r} has no ImageNet weights; backbones with ImageNet weights: {', '.join(with_imagenet)}.")
        state = load_torchvision_state_dict(spec.imagenet_weights, download=download)
    elif isinstance(weights, (str, Path)):
        state, _ = load_weight_file(weights)
    else:
        raise ConfigError(f"backbone_weights must be 'imagenet', None, 'none' or a file path; got {weights!r}.")
    prefix = spec.imagenet_prefix
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


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
        example = missing[:2] if missing else f"{mismatched[0]} is {tuple(state[mismatched[0]].shape)} in the file, {tuple(own[mismatched[0]].shape)} in the model"
        raise WeightsError(
            f"Backbone weights from {source} do not fit the backbone: {len(missing)} tensors missing, {len(mismatched)} of another "
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
            f"num_classes={own[classes].shape[0]} was asked for; its box and mask predictors would be replaced by random ones. "
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


def load_model(weights: str | Path, **overrides: Any) -> MaskRCNN:
    """Rebuild a model from an isicseg checkpoint (or a state dict plus ``overrides``).

    The architecture comes from the checkpoint's ``model_config`` (what
    :func:`build_mask_rcnn` recorded); keyword arguments override it, and are required
    for a plain state dict (at least ``num_classes`` and ``backbone``).

    Args:
        weights: Path of an isicseg checkpoint (``last.pt``, ``best.pt``) or state dict.
        **overrides: Arguments of :func:`build_mask_rcnn` that replace the saved ones.

    Raises:
        ConfigError: If ``num_classes`` is known neither from the file nor the caller.

    Example:
        >>> import torch
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64)
        >>> path = getfixture("tmp_path") / "model.pt"
        >>> torch.save({"model": model.state_dict(), "model_config": model.isicseg_config}, path)
        >>> load_model(path).isicseg_config["backbone"]
        'resnet18_fpn'
    """
    _, config = load_weight_file(weights)
    config = {**config, **overrides}
    config.pop("pretrained", None)
    label_scheme = config.pop("label_scheme", None)
    if "num_classes" not in config:
        raise ConfigError(f"{weights} is a plain state dict; pass num_classes= (and backbone=) to load it.")
    if isinstance(config.get("min_size"), list):
        config["min_size"] = tuple(config["min_size"])
    extra = config.pop("extra", None) or {}
    model = build_mask_rcnn(config.pop("num_classes"), pretrained=weights, **{**extra, **config})
    if label_scheme is not None:
        model.isicseg_config["label_scheme"] = label_scheme
    return model
