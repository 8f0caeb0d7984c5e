"""Augmentation presets on :mod:`torchvision.transforms.v2`.

Image, masks and boxes always move together because the dataset returns
``tv_tensors``. After geometric augmentation, :class:`BoxesFromMasks` recomputes every
box as the tight box of its (transformed) mask and drops instances whose mask left the
image, so no augmentation can yield a loose or degenerate box.

Presets are registered in :data:`TRANSFORMS` and built by name with
:func:`~isicseg.get_transform`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from .ops import masks_to_boxes
from .registry import Registry

__all__ = ["TRANSFORMS", "RandomRot90", "BoxesFromMasks", "get_transform", "list_transforms"]

TRANSFORMS: Registry[Callable[..., Callable]] = Registry("transforms")
"""Augmentation presets by name (``train``, ``eval``), each a function of keyword options
that returns a callable ``(image, target) -> (image, target)``; plugins use the
``isicseg.transforms`` entry-point group."""


class RandomRot90(v2.Transform):
    """Rotate by a random multiple of 90 degrees (exact, no interpolation).

    Args:
        p: Probability of rotating at all; when rotating, 90, 180 and 270 degrees are
            equally likely.
    """

    def __init__(self, p: float = 0.75) -> None:
        super().__init__()
        self.p = p

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the number of quarter turns ``k`` (0 to 3) for one sample."""
        k = int(torch.randint(1, 4, ())) if float(torch.rand(())) < self.p else 0
        return {"k": k}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Turn an image, mask or box set by ``params["k"]`` quarter turns."""
        k = params["k"]
        if k == 0:
            return inpt
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            boxes = v2.functional.convert_bounding_box_format(inpt, new_format=tv_tensors.BoundingBoxFormat.XYXY)
            height, width = inpt.canvas_size
            data = boxes.as_subclass(torch.Tensor)
            for _ in range(k):  # one quarter turn: (x, y) -> (y, W - x), canvas (W, H)
                data = torch.stack([data[:, 1], width - data[:, 2], data[:, 3], width - data[:, 0]], dim=1)
                height, width = width, height
            out = tv_tensors.BoundingBoxes(data, format="XYXY", canvas_size=(height, width))
            return v2.functional.convert_bounding_box_format(out, new_format=inpt.format)
        if isinstance(inpt, torch.Tensor):
            return (
                tv_tensors.wrap(torch.rot90(inpt, k, dims=(-2, -1)), like=inpt)
                if isinstance(inpt, tv_tensors.TVTensor)
                else torch.rot90(inpt, k, dims=(-2, -1))
            )
        return inpt


class BoxesFromMasks(torch.nn.Module):
    """Recompute ``target["boxes"]`` from ``target["masks"]``; drop empty instances.

    Called as ``(image, target) -> (image, target)``. Labels, areas and crowd flags of
    dropped instances are dropped with them, and ``area`` is recomputed.
    """

    def forward(self, image: Any, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Return ``image`` unchanged and a copy of ``target`` with recomputed boxes."""
        masks = target["masks"]
        keep = masks.flatten(1).amax(dim=1) > 0
        masks = tv_tensors.wrap(masks[keep], like=masks)
        out = dict(target)
        for key in ("labels", "iscrowd"):
            if key in out:
                out[key] = out[key][keep]
        out["masks"] = masks
        out["area"] = masks.flatten(1).sum(dim=1).to(torch.float32)
        out["boxes"] = tv_tensors.BoundingBoxes(
            masks_to_boxes(masks.as_subclass(torch.Tensor)), format="XYXY", canvas_size=tuple(masks.shape[-2:])
        )
        return image, out


@TRANSFORMS.register("train")
def dermoscopy_train(
    *, image_size: int | tuple[int, int] | None = None, scale: tuple[float, float] = (0.85, 1.15), color: float = 0.1
) -> v2.Compose:
    """Training preset for dermoscopy: flips, quarter turns, scale jitter, mild colour jitter.

    Dermoscopy images have no up or down, so every flip and quarter turn is a valid view.

    Args:
        image_size: Optional resize applied first (``None``: keep the dataset's size).
        scale: Zoom range about the centre (scale jitter at a fixed canvas).
        color: Strength of brightness, contrast and saturation jitter (hue gets a fifth).

    Example:
        >>> from isicseg.data import make_target
        >>> import numpy as np
        >>> mask = np.zeros((32, 48), np.uint8); mask[8:20, 10:30] = 1
        >>> image = tv_tensors.Image(torch.rand(3, 32, 48))
        >>> out_image, out_target = get_transform("train")(image, make_target(mask, 1, image_id="x"))
        >>> bool((out_target["boxes"] == masks_to_boxes(out_target["masks"])).all())
        True
    """
    steps: list[Callable] = [v2.Resize(image_size)] if image_size is not None else []
    steps += [
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        RandomRot90(),
        v2.RandomAffine(degrees=0, scale=scale, interpolation=v2.InterpolationMode.BILINEAR),
        v2.ColorJitter(brightness=color, contrast=color, saturation=color, hue=color / 5),
        BoxesFromMasks(),
    ]
    return v2.Compose(steps)


@TRANSFORMS.register("eval")
def dermoscopy_eval(*, image_size: int | tuple[int, int] | None = None) -> v2.Compose:
    """Evaluation preset: resize only (nothing at all when ``image_size`` is ``None``)."""
    return v2.Compose([v2.Resize(image_size)] if image_size is not None else [v2.Identity()])


def get_transform(name: str, **kwargs: Any) -> Callable:
    """Build a registered preset, e.g. ``get_transform("train", image_size=256)``."""
    return TRANSFORMS.get(name)(**kwargs)


def list_transforms() -> list[str]:
    """Names of the registered presets.

    Example:
        >>> list_transforms()
        ['eval', 'train']
    """
    return TRANSFORMS.names()
