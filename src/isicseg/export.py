"""Trained models as files that run without isicseg: ONNX (for onnxruntime) and TorchScript.

:func:`~isicseg.export_model` (``isicseg export CHECKPOINT --format onnx|torchscript --out FILE``)
writes one image's whole eval pass as a graph: the detector's own resizing and
normalisation, Mask R-CNN's boxes, labels, scores and masks, and the lesion classifier
head's class probabilities. What a consumer does around it (see the guide *Deploying a
model*, which has a runnable onnxruntime example and a plain-numpy reference of each step):

* **Before**: decode the image to RGB, resize it so that its shorter side is the model's
  ``input_shorter_side`` (bilinear), and pass it as ``float32`` ``(3, H, W)`` in ``[0, 1]``
  (what :func:`isicseg.predict` does). **The graph does not check this contract**: a 0-255
  image is answered without complaint (wrongly) and a NaN image fails inside a ``Reshape``
  node, so a consumer checks shape, dtype, finiteness and range first (the guide's
  ``check_input`` does, from the file's metadata ``input``).
* **The graph** returns ``boxes (N, 4)`` (x1, y1, x2, y2 in the input's pixels), ``labels (N,)``,
  ``scores (N,)`` sorted by score, ``masks (N, 1, H, W)`` (probabilities at the input's size)
  and, for a model with a classifier head, ``class_scores (C,)`` (probability of each label,
  0 for the background; computed on the top detection's box, or the whole image without one).
* **After**: the answer rule of :mod:`isicseg.inference` (the top detection's mask resized to
  the original image and thresholded at 0.5, the category probabilities from
  ``class_scores``), and the optional clean-up (largest component, holes filled). Mirror
  test-time augmentation (``tta``) is not in the graph: a model exported from a run that
  evaluated with it answers like ``isicseg predict`` without ``--tta``.

The file carries its metadata (:func:`read_export_metadata`): label scheme and class names,
the input rule, the outputs, what the run evaluated with, and the isicseg, torch and
torchvision versions; ONNX keeps it in the model's ``metadata_props`` under ``isicseg``,
TorchScript as the extra file ``isicseg.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import paste_masks_in_image

from ._numbers import check_number
from ._version import __version__
from .exceptions import ConfigError, WeightsError
from .labels import CATEGORIES, get_label_scheme
from .outputs import check_apart, created_file_mode, output_lock

__all__ = ["EXPORT_FORMATS", "ONNX_OPSETS", "ExportGraph", "export_model", "read_export_metadata"]

EXPORT_FORMATS = ("onnx", "torchscript")
"""Formats :func:`~isicseg.export_model` writes."""

ONNX_OPSETS = tuple(range(16, 21))
"""The ONNX opsets an export may use, 16 to 20. From 16 on, ``RoiAlign`` samples at half
pixels as the classifier head does; 20 is the newest the TorchScript-based exporter writes."""

DEFAULT_OPSET = 17
METADATA_KEY = "isicseg"
"""Name of the metadata entry (ONNX ``metadata_props`` key; TorchScript extra file ``isicseg.json``)."""


class ExportGraph(torch.nn.Module):
    """One image's eval pass of an isicseg Mask R-CNN, written so that it can be traced.

    It computes what ``model([image])[0]`` computes in eval mode, with every size taken from
    the input tensor (torchvision's own resize-back step turns sizes into constants when
    traced, which would freeze an exported graph to the example image's size), and the
    classifier head run on the top box or, without a detection, on the whole image.

    Args:
        model: A Mask R-CNN built by :func:`~isicseg.build_mask_rcnn` or
            :func:`~isicseg.load_model` (with or without a classifier head).

    Example:
        >>> from isicseg import build_mask_rcnn
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=96).eval()
        >>> image = torch.rand(3, 48, 80)
        >>> boxes, labels, scores, masks = ExportGraph(model)(image)
        >>> reference = model([image])[0]
        >>> bool(torch.allclose(boxes, reference["boxes"], atol=1e-3)), masks.shape[-2:] == image.shape[-2:]
        (True, True)
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        transform = model.transform
        if getattr(transform, "fixed_size", None) is not None:
            raise ConfigError(
                "export: a model with a fixed_size transform is not supported; isicseg models resize by min_size "
                "and max_size."
            )
        self.model = model.eval()
        self.register_buffer(
            "min_size", torch.tensor([float(transform.min_size[-1])], dtype=torch.float64), persistent=False
        )
        self.register_buffer(
            "max_size", torch.tensor([float(transform.max_size)], dtype=torch.float64), persistent=False
        )
        self.size_divisible = int(transform.size_divisible)
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(transform.image_std).view(3, 1, 1), persistent=False)
        self.classifies = hasattr(model, "classifier")

    def _resized(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised, resized and padded batch of one, and the resized height and width (0-d tensors)."""
        # sizes as a 1-d float64 tensor: the ONNX exporter would compute 0-d ones in float32, and
        # floor(266 * (160 / 266)) is then 159, not torchvision's 160
        sizes = torch._shape_as_tensor(image)[-2:].double()
        scale = torch.minimum(self.min_size / sizes.amin(0, keepdim=True), self.max_size / sizes.amax(0, keepdim=True))
        new = torch.floor(sizes * scale).long()  # torchvision's rule, in float64 as it computes it
        x = (image - self.mean) / self.std
        x = F.interpolate(x[None], size=(new[0], new[1]), mode="bilinear", align_corners=False)
        pad = (self.size_divisible - new % self.size_divisible) % self.size_divisible
        return F.pad(x, (0, pad[1], 0, pad[0])), new[0], new[1]

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        """``(boxes, labels, scores, masks)`` and, with a classifier head, ``class_scores``, for a ``(3, H, W)`` image
        in ``[0, 1]``."""
        model = self.model
        batch, new_height, new_width = self._resized(image)
        image_list = ImageList(batch, [(new_height, new_width)])
        if self.classifies:
            body, features = model._backbone(batch)
        else:
            features = model.backbone(batch)
            features = {"0": features} if isinstance(features, Tensor) else features
        proposals, _ = model.rpn(image_list, features)
        detection = model.roi_heads(features, proposals, image_list.image_sizes)[0][0]
        boxes = detection["boxes"]
        height, width = torch.tensor(image.shape[-2]), torch.tensor(image.shape[-1])
        outputs: tuple[Tensor, ...] = ()
        if self.classifies:
            zero = boxes.new_zeros(())
            whole = torch.stack([zero, zero, zero + new_width, zero + new_height])[None]
            top = torch.cat([boxes, whole])[0]  # the top detection (sorted by score), else the whole image
            logits = model.classifier(
                body, images=batch, image_sizes=[(new_height, new_width)], boxes=[top], labels=None
            )
            outputs = (model._class_scores(logits)[0],)
        ratio_x, ratio_y = width.float() / new_width.float(), height.float() / new_height.float()
        scaled = boxes * torch.stack([ratio_x, ratio_y, ratio_x, ratio_y])
        masks = paste_masks_in_image(detection["masks"], scaled, (height, width))
        return (scaled, detection["labels"], detection["scores"], masks, *outputs)


def _output_names(classifies: bool) -> list[str]:
    return ["boxes", "labels", "scores", "masks"] + (["class_scores"] if classifies else [])


def export_metadata(
    model: torch.nn.Module, *, format: str, opset: int | None = None, run_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a consumer of an exported model needs to know, as plain data (written into the file)."""
    identity = model.identity
    scheme = get_label_scheme(identity.label_scheme)
    evaluated = dict((run_config or {}).get("eval") or {})
    return {
        "format": format,
        "onnx_opset": opset,
        "isicseg_version": __version__,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "label_scheme": scheme.name,
        "class_names": list(scheme.class_names),
        "category_labels": {
            c: scheme.label_of(c) for c in CATEGORIES if scheme.diagnoses_of(scheme.label_of(c)) == [c]
        },
        "input": {
            "name": "image",
            "layout": "CHW",
            "dtype": "float32",
            "range": [0.0, 1.0],
            "color": "RGB",
            "input_shorter_side": identity.image_size,
            "resize": "decode to RGB and resize (bilinear) so that the shorter side is input_shorter_side; "
            "the graph then resizes to min_size/max_size itself",
            "min_size": identity.image_size,
            "max_size": identity.max_size,
        },
        "outputs": _output_names(identity.classifier is not None),
        "answer_rule": "top-scoring detection: its mask resized (bilinear) to the original image and > "
        "mask_threshold, its box scaled; "
        "category probabilities from class_scores[label] (without a head: the highest score of a detection with "
        "that label)",
        "mask_threshold": float(evaluated.get("mask_threshold", 0.5)),
        "not_in_graph": {
            "tta": bool(evaluated.get("tta", False)),
            "postprocess": bool(evaluated.get("postprocess", False)),
            # the graph's class_scores read the top-scoring box; "central" picks in the consumer (pick_detection)
            "answer_rule": str(evaluated.get("answer_rule", "top")),
        },
        "model": identity.to_dict(),
    }


def _load(checkpoint: str | Path | torch.nn.Module) -> tuple[torch.nn.Module, dict[str, Any] | None, str]:
    """The model to export, its run configuration (when the checkpoint holds one) and a name for messages."""
    from .checkpoint import read_checkpoint
    from .models import load_model

    if isinstance(checkpoint, torch.nn.Module):
        model, run_config, where = checkpoint, None, "the model"
    else:
        path = Path(checkpoint)
        stored = read_checkpoint(path)  # weights, or WeightsError naming the file
        if stored.identity is None:
            raise WeightsError(
                f"{path} is not an isicseg checkpoint: it holds {', '.join(sorted(map(str, stored.contents))[:6])}, "
                "not 'model' weights with an 'identity' (the model's). Export a last.pt or best.pt that isicseg "
                "train wrote."
            )
        run_config = stored.run_config or stored.contents.get("config")
        model, where = load_model(stored), str(path)
    identity = getattr(model, "identity", None)
    if identity is None or not hasattr(model, "roi_heads"):
        raise ConfigError(
            f"export: {where} is not an isicseg Mask R-CNN (it has no identity); build it with build_mask_rcnn or "
            "load_model."
        )
    if identity.label_scheme is None:
        raise ConfigError(
            f"export: {where} does not name its label scheme; a consumer could not read its labels. Load it with "
            "load_model(path, label_scheme=...) first."
        )
    return model.cpu().eval(), run_config, where


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise ConfigError(
            f"export: --out {out} is a folder; expected the path of the file to write (e.g. {out / 'model.onnx'})."
        )
    if out.exists() and not overwrite:
        raise ConfigError(
            f"export: {out} exists; pass overwrite=True (--overwrite) to replace it, or choose another --out."
        )
    if out.exists() and not out.is_file():
        raise ConfigError(f"export: {out} is not a regular file (a FIFO, socket or device); choose another --out.")


def export_model(
    checkpoint: str | Path | torch.nn.Module,
    out: str | Path,
    *,
    format: str = "onnx",
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    example_size: tuple[int, int] | None = None,
) -> Path:
    """Write a trained model as an ONNX or TorchScript file that runs without isicseg.

    The graph is :class:`~isicseg.export.ExportGraph`, traced on one example image; every size in it follows
    the input, so one file serves images of any size. The file is written beside ``out`` and
    renamed into place, so an existing file is replaced whole (with ``overwrite``) or not at all.

    Args:
        checkpoint: An isicseg checkpoint (``last.pt``, ``best.pt``) or a model from
            :func:`~isicseg.build_mask_rcnn` / :func:`~isicseg.load_model`.
        out: The file to write.
        format: One of :data:`~isicseg.export.EXPORT_FORMATS`.
        opset: ONNX opset, one of :data:`~isicseg.export.ONNX_OPSETS` (ONNX only).
        overwrite: Replace an existing ``out``.
        example_size: ``(height, width)`` of the tracing example (default: the model's
            ``min_size`` square; the example's content does not matter).

    Returns:
        ``out``.

    Raises:
        ConfigError: For an unknown format, an unsupported opset, an existing ``out``
            without ``overwrite``, or a model that is not an isicseg Mask R-CNN.
        WeightsError: For a file that is not an isicseg checkpoint.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"export: format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}.")
    if format == "onnx" and (isinstance(opset, bool) or opset not in ONNX_OPSETS):
        raise ConfigError(
            f"export: ONNX opset {opset!r} is not supported; choose one of {ONNX_OPSETS[0]}..{ONNX_OPSETS[-1]} "
            f"(default {DEFAULT_OPSET})."
        )
    if example_size is not None:
        if not isinstance(example_size, (tuple, list)) or len(example_size) != 2:
            raise ConfigError(f"export: example_size must be (height, width); got {example_size!r}.")
        for side in example_size:
            check_number(side, "example_size's sides", low=16, high=4096, integer=True, where="export: ")
    out = Path(out)
    _check_out(out, overwrite)
    if not isinstance(checkpoint, torch.nn.Module):
        check_apart([checkpoint], replaced=[out], command="export")
    if format == "onnx":
        _onnx()  # a missing package is said before the model is read
    model, run_config, _ = _load(checkpoint)
    metadata = export_metadata(model, format=format, opset=opset if format == "onnx" else None, run_config=run_config)
    graph = ExportGraph(model).eval()
    size = example_size or (model.identity.image_size,) * 2
    example = torch.rand(3, *size, generator=torch.Generator().manual_seed(0))
    with output_lock(out.parent, "export", what="Exported file", name=f".{out.name}.isicseg.lock"):
        _check_out(out, overwrite)  # as it is now that the file is ours
        for stale in out.parent.glob(f".{out.name}.*.partial"):  # left by a killed export of this file
            stale.unlink(missing_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        os.close(handle)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the tracer's notes on constants, all checked by the parity tests
                if format == "onnx":
                    _write_onnx(graph, example, temporary, opset, metadata)
                else:
                    traced = torch.jit.trace(graph, (example,), check_trace=False)
                    torch.jit.save(traced, temporary, _extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})
            os.chmod(temporary, created_file_mode())  # as open() would make it, not mkstemp's 0600
            os.replace(temporary, out)
        finally:
            Path(temporary).unlink(missing_ok=True)
    return out


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError(
            "export: writing ONNX needs the onnx package; install it with pip install 'isicseg[export]'."
        ) from None
    return onnx


def _write_onnx(graph: ExportGraph, example: Tensor, path: str, opset: int, metadata: dict[str, Any]) -> None:
    names = _output_names(graph.classifies)
    dynamic = {"image": {1: "height", 2: "width"}, "masks": {0: "detections", 2: "height", 3: "width"}}
    dynamic.update({name: {0: "detections"} for name in ("boxes", "labels", "scores")})
    torch.onnx.export(
        graph,
        (example,),
        path,
        dynamo=False,
        opset_version=opset,
        input_names=["image"],
        output_names=names,
        dynamic_axes=dynamic,
    )
    onnx = _onnx()
    proto = onnx.load(path)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.producer_name, proto.producer_version = "isicseg", __version__
    onnx.save(proto, path)


def read_export_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`~isicseg.export_model` wrote into an ONNX or TorchScript file.

    Raises:
        WeightsError: If the file is missing, or is neither an exported isicseg model in ONNX
            nor in TorchScript.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Exported model {path} does not exist or is not a file.")
    with open(path, "rb") as file:
        head = file.read(4)
    if head.startswith(b"PK"):  # TorchScript is a zip archive
        extra = {f"{METADATA_KEY}.json": ""}
        try:
            torch.jit.load(path, map_location="cpu", _extra_files=extra)
        except Exception as error:  # noqa: BLE001 - a foreign zip fails in several ways
            raise WeightsError(f"{path} is a zip file but not a TorchScript model ({type(error).__name__}).") from None
        text = extra[f"{METADATA_KEY}.json"]
    else:
        onnx = _onnx()
        try:
            proto = onnx.load(path, load_external_data=False)
        except Exception as error:  # noqa: BLE001 - not protobuf
            raise WeightsError(f"{path} is neither a TorchScript nor an ONNX model ({type(error).__name__}).") from None
        text = next((p.value for p in proto.metadata_props if p.key == METADATA_KEY), "")
    if not text:
        raise WeightsError(
            f"{path} holds no isicseg metadata ({METADATA_KEY!r}); it was not written by isicseg export."
        )
    return json.loads(text)
