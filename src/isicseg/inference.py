"""From a model's detections to one answer per image, decided without ground truth.

The rule (documented in the user guide):

* **Mask, box and predicted class** come from the top-scoring detection. An image with
  no detection gets an empty mask, no box and predicted class 0 (``"none"``).
* **Probability of a category** (melanoma, seborrheic keratosis): for a model with a
  lesion classifier head (:mod:`isicseg.models.heads`), the head's probability of the
  category's label, and the predicted class is the head's most probable label.
  Otherwise, the highest score among the detections whose label means exactly that
  category under the label scheme, and 0 when there is none. Under the ``binary``
  scheme seborrheic keratosis shares the ``benign`` label with nevus, so its
  probability is not defined: it is ``nan`` in tables, 0 in submission CSVs, and its
  scores are reported as missing.

Predicted masks are turned into binary masks at the image's original resolution by
bilinear upsampling of the mask probabilities and a threshold (``mask_threshold``, 0.5 by
default, torchvision's). Options refine them (each measured on real lesions; see the
"Training on real data" guide):

* ``postprocess=True``: keep the largest connected component and fill its holes
  (:func:`clean_mask`), since an ISIC image holds one lesion without holes;
* ``tta=True``: run the model on the image and on its mirror image, and average the
  answering detection's mask probabilities, box, score and class scores over the two
  (:func:`detect`);
* ``answer_rule="central"``: prefer detections near the middle of the image to the
  top-scoring one when it lies far off (:func:`pick_detection`);
* ``mask_threshold``: where to cut the mask probabilities (0.4 helped on a HAM10000 tuning
  set and not on held-out ISIC 2017 thumbnails, so the recipes keep 0.5; tune it on your
  own images with ``benchmarks/mask_threshold.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np  # noqa: F401 (Answer's annotations name np.ndarray; the docs resolve them here)
import torch

from ._answers import (
    ANSWER_RULES,
    Answer,
    AnswerRule,
    _flip_back,
    _fuse,
    answer_from_detections,
    category_probability,
    check_mask_threshold,
    clean_mask,
    pick_detection,
    upsample_mask,
)
from ._devices import PRECISIONS, Precision, autocast, check_precision, resolve_device, resolve_precision
from ._typed import check_types, to_dict
from .data.io import read_height_and_width, read_image, resized_height_and_width
from .exceptions import ConfigError
from .labels import CATEGORIES, LabelScheme, get_label_scheme
from .logs import Progress
from .ops import per_shape

__all__ = [
    "Answer",
    "CATEGORIES",
    "ImageToAnswer",
    "InferenceConfig",
    "PRECISIONS",
    "answer_images",
    "answer_from_detections",
    "ANSWER_RULES",
    "category_probability",
    "check_precision",
    "clean_mask",
    "IMAGE_SUFFIXES",
    "detect",
    "list_image_files",
    "pick_detection",
    "predict",
    "upsample_mask",
]

for _public in (Answer, answer_from_detections, category_probability, clean_mask, pick_detection, upsample_mask):
    _public.__module__ = __name__  # shown and documented as isicseg.inference.<name>, where users import them


@dataclass(frozen=True)
class InferenceConfig:
    """How a model answers: the settings of :func:`~isicseg.predict`, :func:`~isicseg.evaluate`,
    the validation of ``isicseg train`` and its final evaluation (``isicseg evaluate`` and
    ``isicseg predict`` have one flag per field).

    Args:
        batch_size: Images per forward pass, at most: images of different sizes go through
            separate passes, so an image's answer never depends on the images beside it
            (see :func:`~isicseg.ops.per_shape`).
        tta: Also run each image's mirror image and average the two views' top detections
            (see :func:`~isicseg.inference.detect`).
        postprocess: Keep the largest component of each mask, its holes filled (see
            :func:`~isicseg.inference.clean_mask`).
        precision: ``auto``, ``bf16``, ``fp16`` or ``fp32`` (see :data:`~isicseg.inference.PRECISIONS`;
            ``auto`` is fp32 on CPU).
        channels_last: Put the model's weights in channels-last memory format before it runs
            (faster convolutions on some CPUs and GPUs).
        answer_rule: Which detection answers for an image: ``top`` (the top-scoring one) or
            ``central`` (score minus the distance of the box centre from the image centre; see
            :func:`~isicseg.inference.pick_detection`).
        mask_threshold: Mask probability above which a pixel is lesion, after the answering
            detection's mask is resized to the image (strictly between 0 and 1).

    Example:
        >>> InferenceConfig(tta=True).replace(batch_size=8)  # doctest: +NORMALIZE_WHITESPACE
        InferenceConfig(batch_size=8, tta=True, postprocess=False, precision='fp32', channels_last=False,
                        answer_rule='top', mask_threshold=0.5)
        >>> InferenceConfig(batch_size=0)
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: InferenceConfig.batch_size must be an int >= 1; got 0.
    """

    batch_size: int = 4
    tta: bool = False
    postprocess: bool = False
    precision: Precision = "fp32"
    channels_last: bool = False
    answer_rule: AnswerRule = "top"
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        check_types(self)
        if self.batch_size < 1:
            raise ConfigError(f"InferenceConfig.batch_size must be an int >= 1; got {self.batch_size!r}.")
        check_mask_threshold(self.mask_threshold, "InferenceConfig")

    def replace(self, **changes: Any) -> InferenceConfig:
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return to_dict(self)

    @classmethod
    def or_default(cls, config: InferenceConfig | None, where: str) -> InferenceConfig:
        """``config``, or the defaults for ``None``; anything else is refused, naming ``where`` it was passed."""
        if config is None:
            return cls()
        if not isinstance(config, cls):
            raise ConfigError(
                f"{where}: config must be an isicseg.InferenceConfig; got {type(config).__name__} ({config!r})."
            )
        return config

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` in eval mode (and channels-last format with ``channels_last``), in place."""
        model.eval()
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model


def _float32(output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in output.items()}


def detect(
    model: torch.nn.Module,
    images: Sequence[torch.Tensor],
    *,
    tta: bool = False,
    precision: str = "fp32",
    answer_rule: str = "top",
) -> list[dict[str, torch.Tensor]]:
    """The model's detections for a batch of ``(3, H, W)`` images (model in eval mode).

    Images of different sizes go through separate passes (:func:`~isicseg.ops.per_shape`):
    an image's detections are those it gets alone, whatever images share its batch.

    With ``tta``, the model also sees each image mirrored left to right, and the result
    is one detection per image: the mean of the two views' answering detections (mask
    probabilities, box and score; class scores too), each picked by ``answer_rule`` (see
    :func:`pick_detection`). This makes the answer exactly
    equivariant to mirroring the input. A head that is mirror-invariant by construction
    (``lesion_crop``, whose eval views include the mirror image) is run once, on the
    fused box, instead of on each view. Without ``tta``, a classifier head reads the box
    that ``answer_rule`` picks (the model's own pass reads the top-scoring one). Below
    fp32 (``precision``, one of :data:`PRECISIONS`) the model runs under autocast; the
    outputs are float32.

    Example:
        >>> from isicseg import build_mask_rcnn
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=64).eval()
        >>> image = torch.rand(3, 64, 64)
        >>> a, b = detect(model, [image, image.flip(-1)], tta=True)
        >>> bool(torch.allclose(a["masks"], b["masks"].flip(-1), atol=1e-6))
        True
    """
    device = images[0].device if len(images) else torch.device("cpu")
    precision = resolve_precision(precision, device)

    def run(batch: list[torch.Tensor], **options: bool) -> list[dict[str, torch.Tensor]]:
        with autocast(precision, device):
            return [_float32(output) for output in per_shape(lambda group: model(group, **options), batch)]

    if not tta:
        outputs = run(list(images))
        if answer_rule != "top" and outputs and "class_scores" in outputs[0]:
            _classify_picked(model, images, outputs, answer_rule, precision)
        return outputs
    # a mirror-invariant head (lesion_crop) would say the same for both views: run it once, on the fused box
    once = bool(getattr(getattr(model, "classifier", None), "mirror_invariant", False))
    options = {"classify": False} if once else {}
    outputs, mirrored = run(list(images), **options), run([image.flip(-1) for image in images], **options)
    fused = [
        _fuse([output, _flip_back(other, image.shape[-1])], answer_rule)
        for image, output, other in zip(images, outputs, mirrored)
    ]
    if once:
        with autocast(precision, device):
            scores = per_shape(model.classify, images, [f["boxes"][0] if len(f["boxes"]) else None for f in fused])
        for f, probabilities in zip(fused, scores):
            f["class_scores"] = probabilities.float()
    return fused


def _classify_picked(model, images, outputs, answer_rule: str, precision: str) -> None:
    """Where the rule picks another detection than the top-scoring one, the head reads that one's box."""
    picks = [pick_detection(output, rule=answer_rule) for output in outputs]
    again = [k for k, pick in enumerate(picks) if pick not in (None, 0)]  # a forward pass reads box 0, the top one
    if not again:
        return
    with autocast(precision, images[0].device):  # precision as detect resolved it
        scores = per_shape(model.classify, [images[k] for k in again], [outputs[k]["boxes"][picks[k]] for k in again])
    for k, probabilities in zip(again, scores):
        outputs[k]["class_scores"] = probabilities.float()


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
"""Image files :func:`list_image_files` (``isicseg predict``) reads from a folder."""


def check_paths(paths: Iterable[str | Path], *, what: str) -> list[Path]:
    """``paths`` as a list of :class:`~pathlib.Path`, refusing one string or path where a list belongs.

    Example:
        >>> check_paths("photo.jpg", what="images")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: images must be a list of file paths; got one str, 'photo.jpg' (pass ...
    """
    if isinstance(paths, (str, bytes, Path)):
        raise ConfigError(
            f"{what} must be a list of file paths; got one {type(paths).__name__}, {str(paths)!r} (pass "
            f"[{str(paths)!r}])."
        )
    try:
        items = list(paths)
    except TypeError:
        raise ConfigError(f"{what} must be a list of file paths; got {type(paths).__name__}.") from None
    bad = [item for item in items if not isinstance(item, (str, Path))]
    if bad:
        raise ConfigError(f"{what} must be a list of file paths; item {bad[0]!r} is of type {type(bad[0]).__name__}.")
    return [Path(item) for item in items]


def list_image_files(inputs: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """The image files named by ``inputs`` (files, or folders whose images are taken in name order).

    Only regular files are read (a FIFO or device named ``*.jpg`` would block a reader
    forever). In folders, files with one of :data:`IMAGE_SUFFIXES` are taken (ISIC
    ``*_superpixels.png`` maps are not images); everything else is skipped and said so.
    Two inputs with one file stem are refused: their answers would share a name.

    Returns:
        The files, and one line per kind of entry that was skipped (empty when none was).

    Raises:
        ConfigError: When an input is missing or not a regular file or folder, no image
            is found, or two files share a stem.
    """
    files: list[Path] = []
    skipped: dict[str, list[str]] = {}
    for item in check_paths(inputs, what="inputs"):
        if item.is_dir():
            try:
                entries = sorted(item.iterdir())
            except OSError as error:
                raise ConfigError(
                    f"Input folder {item} cannot be listed ({error.strerror or error}); check its permissions."
                ) from None
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.suffix.lower() not in IMAGE_SUFFIXES or entry.stem.endswith("_superpixels") or entry.is_dir():
                    skipped.setdefault(f"in {item}: not an image file ({', '.join(IMAGE_SUFFIXES)})", []).append(
                        entry.name
                    )
                elif not entry.is_file():
                    skipped.setdefault(f"in {item}: not a regular file (a FIFO, socket or device)", []).append(
                        entry.name
                    )
                else:
                    files.append(entry)
        elif item.is_file():
            files.append(item)
        elif item.exists():
            raise ConfigError(
                f"Input {item} is not a regular file or folder (a FIFO, socket or device); only image files and "
                "folders are read."
            )
        else:
            raise ConfigError(f"Input {item} does not exist; expected an image file or a folder of images.")
    if not files:
        raise ConfigError(f"No image file ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, inputs))}.")
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        stem, paths = next(iter(clashes.items()))
        raise ConfigError(
            f"{len(clashes)} image names are used by more than one input file, e.g. {stem!r}: "
            f"{', '.join(map(str, paths))}; "
            f"their masks ({stem}_segmentation.png) and CSV rows would collide. Rename the files or predict each "
            "folder into its own --out."
        )
    lines = [
        f"{len(names)} entries {why}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        for why, names in skipped.items()
    ]
    return files, lines


@dataclass(frozen=True)
class ImageToAnswer:
    """One image for :func:`answer_images`.

    Attributes:
        image: ``(3, H, W)`` float image in ``[0, 1]``, at the size the model reads.
        image_id: The answer's ``image_id``.
        original_height_and_width: ``(height, width)`` the answer's mask and box are given at.
        key: Anything the caller wants back beside the answer (an index, a target ...).
    """

    image: torch.Tensor
    image_id: str
    original_height_and_width: tuple[int, int]
    key: Any = None


@torch.inference_mode()
def answer_images(
    model: torch.nn.Module,
    images: Iterable[ImageToAnswer],
    *,
    label_scheme: str | LabelScheme,
    config: InferenceConfig,
    device: torch.device,
) -> Iterator[tuple[Any, Answer]]:
    """The prediction loop of :func:`~isicseg.predict`, :func:`~isicseg.evaluate` and the final
    evaluation of a run: ``(key, answer)`` per image, in order, ``config.batch_size``
    images per forward pass (times two views with ``config.tta``).

    The model must already be prepared (:meth:`~isicseg.InferenceConfig.prepare`). Images are
    drawn from ``images`` only as answers are asked for.
    """
    batch: list[ImageToAnswer] = []
    for item in images:
        batch.append(item)
        if len(batch) == config.batch_size:
            yield from _answer_batch(model, batch, label_scheme, config, device)
            batch = []
    if batch:
        yield from _answer_batch(model, batch, label_scheme, config, device)


def _answer_batch(
    model, batch: list[ImageToAnswer], label_scheme, config: InferenceConfig, device
) -> Iterator[tuple[Any, Answer]]:
    outputs = detect(
        model,
        [item.image.as_subclass(torch.Tensor).to(device) for item in batch],
        tta=config.tta,
        precision=config.precision,
        answer_rule=config.answer_rule,
    )
    for item, output in zip(batch, outputs):
        output = {k: v.cpu() for k, v in output.items()}
        yield (
            item.key,
            answer_from_detections(
                output,
                label_scheme,
                image_id=item.image_id,
                original_height_and_width=item.original_height_and_width,
                postprocess=config.postprocess,
                answer_rule=config.answer_rule,
                mask_threshold=config.mask_threshold,
            ),
        )


def predict(
    model: torch.nn.Module,
    images: Iterable[str | Path],
    *,
    config: InferenceConfig | None = None,
    label_scheme: str | LabelScheme | None = None,
    image_size: int | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
) -> Iterator[Answer]:
    """Run the model over image files and yield one :class:`~isicseg.inference.Answer` per image, in order.

    Args:
        model: A Mask R-CNN (put in eval mode here; see :meth:`~isicseg.InferenceConfig.prepare`).
        images: Image files; the file stem is the answer's ``image_id``.
        config: Batch size, TTA, clean-up, precision, memory format (default: :class:`~isicseg.InferenceConfig`'s
        defaults).
        label_scheme: The label scheme the model was trained with (default: the one its
            ``identity`` names; see :class:`~isicseg.models.ModelIdentity`).
        image_size: Decode size (default: the model's ``min_size``, so that large JPEGs
            are decoded at a reduced scale).
        device: Where to run (default: the model's device).

    Every argument is checked when ``predict`` is called; images are read as the
    returned iterator is consumed.

    Raises:
        ConfigError: For a bad argument (``images`` given as one string, a config that is
            not an :class:`~isicseg.InferenceConfig`, fp16 without CUDA ...).
        DatasetError: For an image that is missing, not a regular file, or unreadable (naming it).

    Example:
        >>> from isicseg import build_mask_rcnn, write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"test": 2}, image_size=(64, 80))
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=80)
        >>> answers = list(predict(model, sorted(root.glob("*_Data/*.jpg")), label_scheme="binary",
        ...     config=InferenceConfig(tta=True)))
        >>> [a.mask.shape for a in answers]
        [(64, 80), (64, 80)]
    """
    config = InferenceConfig.or_default(config, "predict")
    paths = check_paths(images, what="images")
    identity = getattr(model, "identity", None)
    if label_scheme is None:
        if identity is None or identity.label_scheme is None:
            raise ConfigError(
                "predict: the model does not name its label scheme (identity.label_scheme); pass "
                "label_scheme='binary' or 'three_class'."
            )
        label_scheme = identity.label_scheme
    elif identity is not None:
        identity.check_label_scheme(get_label_scheme(label_scheme).name)
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    resolve_precision(config.precision, device)  # refuses fp16 without CUDA now, not at the first image
    if image_size is None:
        min_size = getattr(getattr(model, "transform", None), "min_size", None)
        image_size = int(min_size[-1]) if min_size else None
    resized_height_and_width(64, 64, image_size)  # refuses a bad image_size now, not at the first image
    config.prepare(model)
    return _predict(model, paths, label_scheme, image_size, device, config)


def _predict(model, paths: list[Path], label_scheme, image_size, device, config: InferenceConfig) -> Iterator[Answer]:
    progress = Progress("predict", len(paths), unit="image")

    def images() -> Iterator[ImageToAnswer]:
        for path in paths:
            image = torch.from_numpy(read_image(path, image_size, strict=True)).permute(2, 0, 1).float().div_(255)
            yield ImageToAnswer(image, path.stem, read_height_and_width(path))

    for _, answer in answer_images(model, images(), label_scheme=label_scheme, config=config, device=device):
        progress.update()
        yield answer
