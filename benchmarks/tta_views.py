"""Do more test-time views help the masks? Flips and input sizes compared on a tuning set, never on held-out images.

``--tta`` averages the answering detections of two views, the image and its mirror image.
This script runs a trained model on more views of each image of a **tuning set** (by default
the lesion-grouped HAM10000 subset of ``answer_rules.py``, which no held-out ISIC 2017 image
is in): the four flips (none, left-right, up-down, both) at the model's input size, and the
image and its mirror image at each of ``--sizes`` (the model's shorter side changed, its
longer-side cap in proportion; the detections come back in the image's frame). Each
combination of views is fused as ``--tta`` fuses two (the mean of each view's answering
detection, picked by ``--answer-rule``), cleaned up, cut at 0.4 and 0.5, and scored against
the truth: mean Jaccard (95% interval), thresholded Jaccard, images under 0.5, and the paired
difference against today's two views at 0.5.

    python benchmarks/tta_views.py runs/bench_real/recipe/last.pt                # HAM10000, 800 images
    python benchmarks/tta_views.py CKPT --isic ROOT --split train --limit 200    # or an ISIC 2017 root
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

sys.path.insert(0, str(Path(__file__).parent))
from answer_rules import load_tuning_set, print_and_save, tuning_set_parser  # noqa: E402
from mask_threshold import summarize  # noqa: E402
from wrong_object import jaccard  # noqa: E402

from isicseg.inference import _fuse, clean_mask, pick_detection

FLIPS = ("", "h", "v", "hv")  # none, left-right, up-down, both
THRESHOLDS = (0.4, 0.5)
REFERENCE = "mirror@0.5"  # what --tta answers today


def flip(image: torch.Tensor, flips: str) -> torch.Tensor:
    """``image`` (``(..., H, W)``) flipped left-right (``h``) and/or upside down (``v``)."""
    if "h" in flips:
        image = image.flip(-1)
    if "v" in flips:
        image = image.flip(-2)
    return image


def flip_back(output: dict[str, torch.Tensor], flips: str) -> dict[str, torch.Tensor]:
    """Detections of a flipped image mapped back onto the image (boxes and masks; flips are their own inverse)."""
    boxes, masks = output["boxes"], output["masks"]
    size = tuple(masks.shape[-2:])
    box_format = tv_tensors.BoundingBoxFormat.XYXY
    if "h" in flips:
        boxes = TF.horizontal_flip_bounding_boxes(boxes, format=box_format, canvas_size=size)
    if "v" in flips:
        boxes = TF.vertical_flip_bounding_boxes(boxes, format=box_format, canvas_size=size)
    return {**output, "boxes": boxes, "masks": flip(masks, flips)}


def combinations(size: int, sizes: tuple[int, ...]) -> dict[str, list[tuple[int, str]]]:
    """Named sets of ``(input size, flips)`` views: today's two, all four flips, the two at each size, all sizes."""
    combos = {"mirror": [(size, ""), (size, "h")], "flips": [(size, f) for f in FLIPS]}
    others = [s for s in sizes if s != size]
    for other in others:
        combos[f"mirror {other} px"] = [(other, ""), (other, "h")]
    if others:
        combos["mirror, all sizes"] = [(s, f) for s in sorted({size, *others}) for f in ("", "h")]
    return combos


@torch.inference_mode()
def score_views(model, dataset, size: int, sizes: tuple[int, ...], *, answer_rule: str) -> pd.DataFrame:
    """Per image, the Jaccard of each combination's fused, cleaned mask at each threshold (0 without a detection)."""
    combos = combinations(size, sizes)
    wanted = sorted({view for views in combos.values() for view in views})
    cap = model.transform.max_size
    options = {"classify": False} if hasattr(model, "classify") else {}  # the masks only: skip a classifier head
    rows = []
    try:
        for index in range(len(dataset)):
            image, target = dataset[index]
            truth = target["masks"].any(0).numpy() if len(target["masks"]) else np.zeros(image.shape[-2:], bool)
            image = (image.float() / 255 if image.dtype == torch.uint8 else image).as_subclass(torch.Tensor)
            outputs = {}
            for shorter, flips in wanted:
                model.transform.min_size, model.transform.max_size = (shorter,), round(cap * shorter / size)
                output = model([flip(image, flips)], **options)[0]
                outputs[shorter, flips] = flip_back({k: v.float() for k, v in output.items()}, flips)
            row = {"index": index}
            for name, views in combos.items():
                fused = _fuse([outputs[view] for view in views], answer_rule)
                pick = pick_detection(fused, rule=answer_rule)
                for threshold in THRESHOLDS:
                    mask = None if pick is None else clean_mask((fused["masks"][pick, 0] > threshold).numpy())
                    row[f"{name}@{threshold}"] = 0.0 if mask is None else jaccard(mask, truth)
            rows.append(row)
    finally:
        model.transform.min_size, model.transform.max_size = (size,), cap
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = tuning_set_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[224, 320], help="other input sizes (shorter side)")
    parser.add_argument("--answer-rule", default="central")
    args = parser.parse_args(argv)
    model, dataset, size, where = load_tuning_set(args)
    table = score_views(model, dataset, size, tuple(args.sizes), answer_rule=args.answer_rule)
    print(
        f"Test-time views of {args.checkpoint} on {where}, input {size} px (shorter side), "
        f"clean-up on, answer rule {args.answer_rule}:"
    )
    result = summarize(table, list(table.columns[1:]), reference=REFERENCE, key="views@threshold")
    return print_and_save(result, table, args.out)


if __name__ == "__main__":
    main()
