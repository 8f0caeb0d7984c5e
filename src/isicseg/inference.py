"""From a model's detections to one answer per image, decided without ground truth.

The rule (documented in the user guide):

* **Mask, box and predicted class** come from the top-scoring detection. An image with
  no detection gets an empty mask, no box and predicted class 0 (``"none"``).
* **Probability of a category** (melanoma, seborrheic keratosis) is the highest score
  among the detections whose label means exactly that category under the label scheme,
  and 0 when there is none. Under the ``binary`` scheme seborrheic keratosis shares the
  ``benign`` label with nevus, so its probability is not defined: it is ``nan`` in
  tables, 0 in submission CSVs, and its scores are reported as missing.

Predicted masks are turned into binary masks at the image's original resolution by
bilinear upsampling of the mask probabilities and a 0.5 threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .data.io import read_image, read_image_size
from .data.labels import LabelScheme, get_label_scheme

__all__ = ["Answer", "CATEGORIES", "answer_from_detections", "category_probability", "predict", "upsample_mask"]

CATEGORIES = ("melanoma", "seborrheic_keratosis")


@dataclass
class Answer:
    """One image's answer.

    Attributes:
        image_id: Identifier of the image.
        mask: ``(H, W)`` bool mask at the original resolution.
        box: ``(x1, y1, x2, y2)`` at the original resolution, or ``None``.
        label: Predicted class label (0 when nothing was detected).
        score: Score of the top detection (0 when nothing was detected).
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


def category_probability(scores: torch.Tensor, labels: torch.Tensor, category: str, scheme: LabelScheme) -> float:
    """Highest score among detections labelled exactly ``category`` (0 if none; ``nan``
    when the scheme merges ``category`` with another diagnosis).

    Example:
        >>> s, l = torch.tensor([0.9, 0.3]), torch.tensor([1, 2])
        >>> category_probability(s, l, "melanoma", get_label_scheme("binary"))
        0.30000001192092896
        >>> category_probability(s, l, "seborrheic_keratosis", get_label_scheme("binary"))
        nan
    """
    label = scheme.label_of(category)
    if scheme.diagnoses_of(label) != [category]:
        return float("nan")
    chosen = scores[labels == label]
    return float(chosen.max()) if chosen.numel() else 0.0


def upsample_mask(probabilities: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a ``(H, W)`` probability mask to ``size = (height, width)``, then > 0.5."""
    if tuple(probabilities.shape[-2:]) != tuple(size):
        probabilities = F.interpolate(probabilities[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]
    return (probabilities > 0.5).cpu().numpy()


def answer_from_detections(
    detections: dict[str, torch.Tensor],
    scheme: str | LabelScheme,
    image_id: str,
    original_size: tuple[int, int] | None = None,
) -> Answer:
    """Apply the module's rule to one image's detections.

    Args:
        detections: A torchvision detection output (``boxes``, ``labels``, ``scores``,
            ``masks`` of shape ``(N, 1, H, W)``).
        scheme: The label scheme the model was trained with.
        image_id: Identifier of the image.
        original_size: ``(height, width)`` to return mask and box at; default the
            detections' own size.

    Example:
        >>> det = {"boxes": torch.tensor([[1.0, 1.0, 3.0, 3.0]]), "labels": torch.tensor([2]),
        ...        "scores": torch.tensor([0.8]), "masks": torch.zeros(1, 1, 4, 4)}
        >>> det["masks"][0, 0, 1:3, 1:3] = 0.9
        >>> a = answer_from_detections(det, "binary", "img", original_size=(8, 8))
        >>> a.label, a.box, int(a.mask.sum()), a.probabilities["melanoma"]
        (2, (2.0, 2.0, 6.0, 6.0), 16, 0.800000011920929)
    """
    scheme = get_label_scheme(scheme)
    masks = detections["masks"]
    height, width = masks.shape[-2:]
    size = original_size or (height, width)
    scores, labels = detections["scores"].detach().cpu(), detections["labels"].detach().cpu()
    probabilities = {c: category_probability(scores, labels, c, scheme) for c in CATEGORIES}
    if scores.numel() == 0:
        return Answer(image_id, np.zeros(size, dtype=bool), None, 0, 0.0, probabilities, detections)
    top = int(torch.argmax(scores))
    sy, sx = size[0] / height, size[1] / width
    x1, y1, x2, y2 = detections["boxes"][top].tolist()
    return Answer(
        image_id,
        upsample_mask(masks[top, 0].detach(), size),
        (x1 * sx, y1 * sy, x2 * sx, y2 * sy),
        int(labels[top]),
        float(scores[top]),
        probabilities,
        detections,
    )


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    images: Iterable[str | Path],
    scheme: str | LabelScheme,
    *,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
) -> Iterator[Answer]:
    """Run the model over image files and yield one :class:`~isicseg.inference.Answer` per image, in order.

    Args:
        model: A Mask R-CNN (put in eval mode here).
        images: Image files; the file stem is the answer's ``image_id``.
        scheme: The label scheme the model was trained with.
        image_size: Decode size (default: the model's ``min_size``, so that large JPEGs
            are decoded at a reduced scale).
        batch_size: Images per forward pass.
        device: Where to run (default: the model's device).

    Example:
        >>> from isicseg import build_mask_rcnn, write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"test": 2}, image_size=(64, 80))
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=64, max_size=80)
        >>> answers = list(predict(model, sorted(root.glob("*_Data/*.jpg")), "binary"))
        >>> [a.mask.shape for a in answers]
        [(64, 80), (64, 80)]
    """
    model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if image_size is None:
        min_size = getattr(getattr(model, "transform", None), "min_size", None)
        image_size = int(min_size[-1]) if min_size else None
    for batch in _batches([Path(p) for p in images], batch_size):
        tensors = [torch.from_numpy(read_image(p, image_size)).permute(2, 0, 1).to(device, torch.float32).div_(255) for p in batch]
        outputs = model(tensors)
        for path, output in zip(batch, outputs):
            width, height = read_image_size(path)
            yield answer_from_detections({k: v.cpu() for k, v in output.items()}, scheme, path.stem, (height, width))
