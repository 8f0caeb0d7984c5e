"""The answer rule's pure parts: from one image's detections to its answer (no model, no files).

:mod:`isicseg.inference` re-exports every name here and documents the rule; this module
holds what needs neither a model nor an image file, so that the rule reads in one place.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from ._numbers import check_number
from .exceptions import ConfigError
from .labels import CATEGORIES, LabelScheme, get_label_scheme


@dataclass
class Answer:
    """One image's answer.

    Attributes:
        image_id: Identifier of the image.
        mask: ``(H, W)`` bool mask at the original resolution.
        box: ``(x1, y1, x2, y2)`` at the original resolution, or ``None``.
        label: Predicted class label (0 when nothing was detected).
        score: Score of the answering detection (0 when nothing was detected; see :func:`pick_detection`).
        probabilities: Probability of melanoma and of seborrheic keratosis (``nan`` where the label
            scheme cannot tell the category apart).
        detections: The raw detections (``boxes``, ``labels``, ``scores``, ``masks``) at
            the model's input resolution.
    """

    image_id: str
    mask: np.ndarray
    box: tuple[float, float, float, float] | None
    label: int
    score: float
    probabilities: dict[str, float]
    detections: dict[str, torch.Tensor]


def category_probability(
    scores: torch.Tensor,
    labels: torch.Tensor,
    *,
    category: str,
    label_scheme: LabelScheme,
    class_scores: torch.Tensor | None = None,
) -> float:
    """Probability of ``category``: ``class_scores[label]`` when a classifier head gave
    them, else the highest score among detections labelled exactly ``category`` (0 if
    none); ``nan`` when the scheme merges ``category`` with another diagnosis.

    Example:
        >>> s, l = torch.tensor([0.9, 0.3]), torch.tensor([1, 2])
        >>> category_probability(s, l, category="melanoma", label_scheme=get_label_scheme("binary"))
        0.30000001192092896
        >>> category_probability(s, l, category="melanoma", label_scheme=get_label_scheme("binary"),
        ...     class_scores=torch.tensor([0.0, 0.25, 0.75]))
        0.75
        >>> category_probability(s, l, category="seborrheic_keratosis", label_scheme=get_label_scheme("binary"))
        nan
    """
    label = label_scheme.label_of(category)
    if label_scheme.diagnoses_of(label) != [category]:
        return float("nan")
    if class_scores is not None:
        return float(class_scores[label])
    chosen = scores[labels == label]
    return float(chosen.max()) if chosen.numel() else 0.0


def upsample_mask(probabilities: torch.Tensor, size: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """Bilinear resize of a ``(H, W)`` probability mask to ``size = (height, width)``, then ``> threshold``
    (in [0, 1])."""
    check_number(threshold, "threshold", low=0, high=1)
    if tuple(probabilities.shape[-2:]) != tuple(size):
        probabilities = F.interpolate(
            probabilities[None, None].float(), size=size, mode="bilinear", align_corners=False
        )[0, 0]
    return (probabilities > threshold).cpu().numpy()


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a bool mask, with its holes filled.

    Example:
        >>> m = np.zeros((6, 8), bool); m[1:5, 1:5] = True; m[2, 2] = False; m[0, 7] = True
        >>> int(clean_mask(m).sum()), bool(clean_mask(m)[2, 2]), bool(clean_mask(m)[0, 7])
        (16, True, False)
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = labels == 1 + int(np.argmax(sizes))
    return ndimage.binary_fill_holes(mask) if count else mask


AnswerRule = Literal["top", "central"]
ANSWER_RULES: tuple[str, ...] = typing.get_args(AnswerRule)
"""How :func:`pick_detection` chooses the answer among an image's detections."""


def pick_detection(detections: dict[str, torch.Tensor], *, rule: str = "top") -> int | None:
    """The index of the detection that answers for the image (``None`` without detections).

    ``rule="top"`` takes the top-scoring detection. ``rule="central"`` takes the detection
    whose score minus the distance of its box centre from the image centre is largest; the
    distance is measured in fractions of the image's width and height (0 at the centre, about
    0.71 in a corner), the image being the masks' frame. A dermoscopy image is taken with
    its lesion in view, mostly near the middle, while the objects a detector mistakes for
    it (dark vignetted corners, hair, ruler marks, bubbles) lie anywhere: a far-off detection
    must score much higher to win.

    Example:
        >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 40.0, 60.0, 60.0]])  # a corner, the middle
        >>> det = {"scores": torch.tensor([0.8, 0.5]), "boxes": boxes, "masks": torch.zeros(2, 1, 100, 100)}
        >>> pick_detection(det), pick_detection(det, rule="central")
        (0, 1)
    """
    if rule not in ANSWER_RULES:
        raise ConfigError(f"Unknown answer rule {rule!r}; allowed: {', '.join(ANSWER_RULES)}.")
    scores = detections["scores"].detach()
    if scores.numel() == 0:
        return None
    if rule == "top":
        return int(torch.argmax(scores))
    height, width = detections["masks"].shape[-2:]
    boxes = detections["boxes"].detach().float()
    off_x = (boxes[:, 0] + boxes[:, 2]) / (2 * width) - 0.5
    off_y = (boxes[:, 1] + boxes[:, 3]) / (2 * height) - 0.5
    return int(torch.argmax(scores.float() - torch.hypot(off_x, off_y)))


def _flip_back(output: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """Detections of a mirrored image, mapped back onto the original image."""
    height = output["masks"].shape[-2]
    boxes = TF.horizontal_flip_bounding_boxes(
        output["boxes"], format=tv_tensors.BoundingBoxFormat.XYXY, canvas_size=(height, width)
    )
    return {**output, "boxes": boxes, "masks": TF.horizontal_flip(output["masks"])}


def _fuse(views: list[dict[str, torch.Tensor]], answer_rule: str = "top") -> dict[str, torch.Tensor]:
    """One detection: the mean of each view's answering detection (views without one are left out)."""
    picks = [(view, pick_detection(view, rule=answer_rule)) for view in views]
    tops = [{k: v[pick] for k, v in view.items() if k != "class_scores"} for view, pick in picks if pick is not None]
    fused: dict[str, torch.Tensor]
    if not tops:
        fused = {k: v for k, v in views[0].items() if k != "class_scores"}
    else:
        best = max(tops, key=lambda top: float(top["scores"].detach()))
        fused = {
            key: torch.stack([top[key].float() for top in tops]).mean(0)[None] for key in ("boxes", "masks", "scores")
        }
        fused["labels"] = best["labels"][None]
    if "class_scores" in views[0]:
        fused["class_scores"] = torch.stack([view["class_scores"] for view in views]).mean(0)
    return fused


def check_mask_threshold(value: float, where: str) -> None:
    """Refuse a mask threshold outside (0, 1), naming ``where`` it was set."""
    if not 0.0 < value < 1.0:
        raise ConfigError(
            f"{where}.mask_threshold must be a mask probability strictly between 0 and 1 (0.5: torchvision's); "
            f"got {value!r}."
        )


def answer_from_detections(
    detections: dict[str, torch.Tensor],
    label_scheme: str | LabelScheme,
    *,
    image_id: str,
    original_height_and_width: tuple[int, int] | None = None,
    postprocess: bool = False,
    answer_rule: str = "top",
    mask_threshold: float = 0.5,
) -> Answer:
    """Apply the module's rule to one image's detections.

    Args:
        detections: A torchvision detection output (``boxes``, ``labels``, ``scores``,
            ``masks`` of shape ``(N, 1, H, W)``).
        label_scheme: The label scheme the model was trained with.
        image_id: Identifier of the image.
        original_height_and_width: ``(height, width)`` to return mask and box at; default the
            detections' own size.
        postprocess: Apply :func:`clean_mask` to the mask (at the original size).
        answer_rule: Which detection answers (:func:`pick_detection`'s ``rule``).
        mask_threshold: Mask probability above which a pixel is lesion (after upsampling).

    Example:
        >>> det = {"boxes": torch.tensor([[1.0, 1.0, 3.0, 3.0]]), "labels": torch.tensor([2]),
        ...        "scores": torch.tensor([0.8]), "masks": torch.zeros(1, 1, 4, 4)}
        >>> det["masks"][0, 0, 1:3, 1:3] = 0.9
        >>> a = answer_from_detections(det, "binary", image_id="img", original_height_and_width=(8, 8))
        >>> a.label, a.box, int(a.mask.sum()), a.probabilities["melanoma"]
        (2, (2.0, 2.0, 6.0, 6.0), 16, 0.800000011920929)
    """
    label_scheme = get_label_scheme(label_scheme)
    masks = detections["masks"]
    height, width = masks.shape[-2:]
    size = original_height_and_width or (height, width)
    scores, labels = detections["scores"].detach().cpu(), detections["labels"].detach().cpu()
    class_scores = detections.get("class_scores")
    class_scores = class_scores.detach().cpu() if class_scores is not None else None
    probabilities = {
        c: category_probability(scores, labels, category=c, label_scheme=label_scheme, class_scores=class_scores)
        for c in CATEGORIES
    }
    if scores.numel() == 0:
        return Answer(image_id, np.zeros(size, dtype=bool), None, 0, 0.0, probabilities, detections)
    top = pick_detection(detections, rule=answer_rule)
    label = int(labels[top]) if class_scores is None else int(torch.argmax(class_scores))
    sy, sx = size[0] / height, size[1] / width
    x1, y1, x2, y2 = detections["boxes"][top].tolist()
    mask = upsample_mask(masks[top, 0].detach(), size, mask_threshold)
    return Answer(
        image_id,
        clean_mask(mask) if postprocess else mask,
        (x1 * sx, y1 * sy, x2 * sx, y2 * sy),
        label,
        float(scores[top]),
        probabilities,
        detections,
    )
