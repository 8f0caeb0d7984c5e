"""Where should mask probabilities be cut? Thresholds compared on a tuning set, never on the held-out images.

isicseg turns the answering detection's mask probabilities into a mask by bilinear
upsampling to the image's size and a threshold (0.5 by default, torchvision's). This
script runs a trained model once per image of a **tuning set** (by default the
lesion-grouped subset of HAM10000 that ``answer_rules.py`` uses, which no held-out ISIC 2017
image is in) as a recipe answers (``--tta``, ``--postprocess``, ``--answer-rule``), keeps
the answering detection's mask probabilities, and scores each threshold of ``--thresholds``
on the same probabilities: mean Jaccard (95% interval), thresholded Jaccard (the
challenge's: a Jaccard under 0.65 counts 0), images under 0.5, and the paired difference
against 0.5.

    python benchmarks/mask_threshold.py runs/bench_real/recipe/last.pt                 # HAM10000, 800 images
    python benchmarks/mask_threshold.py CKPT --isic ROOT --split train --limit 200     # or an ISIC 2017 root
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _weights import use_weight_file  # noqa: E402
from wrong_object import jaccard  # noqa: E402

from isicseg import HAM10000Dataset, ISIC2017Dataset, load_model
from isicseg.inference import clean_mask, detect, pick_detection
from isicseg.metrics.intervals import mean_interval

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@torch.inference_mode()
def score_thresholds(model, dataset, thresholds, *, tta: bool, postprocess: bool, answer_rule: str) -> pd.DataFrame:
    """Jaccard of the answering detection's mask at each threshold, per image (0 without a detection)."""
    rows = []
    for index in range(len(dataset)):
        image, target = dataset[index]
        truth = target["masks"].any(0).numpy() if len(target["masks"]) else np.zeros(image.shape[-2:], bool)
        image = image.float() / 255 if image.dtype == torch.uint8 else image
        output = detect(model, [image.as_subclass(torch.Tensor)], tta=tta, answer_rule=answer_rule)[0]
        pick = pick_detection(output, rule=answer_rule)
        row = {"index": index}
        for threshold in thresholds:
            if pick is None:
                row[threshold] = 0.0
                continue
            mask = (output["masks"][pick, 0] > threshold).numpy()
            row[threshold] = jaccard(clean_mask(mask) if postprocess else mask, truth)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, thresholds, reference: float = 0.5) -> pd.DataFrame:
    summary = []
    for threshold in thresholds:
        values = table[threshold].to_numpy(float)
        interval = mean_interval(values)
        paired = mean_interval(values - table[reference].to_numpy(float))
        summary.append(
            {
                "threshold": threshold,
                "mean jaccard": interval.estimate,
                "95% CI": f"{interval.low:.3f}-{interval.high:.3f}",
                "thresholded": float(np.where(values >= 0.65, values, 0.0).mean()),
                "under 0.5": int((values < 0.5).sum()),
                f"minus {reference}": f"{paired.estimate:+.3f} ({paired.low:+.3f} to {paired.high:+.3f})",
            }
        )
    return pd.DataFrame(summary)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--ham", type=Path, default=SHARED / "ham10000-200", help="HAM10000 root (the default set)")
    parser.add_argument("--isic", type=Path, help="score this ISIC 2017 root's --split instead of HAM10000")
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--limit", type=int, default=800, help="images at least (HAM10000: whole lesions, all their images)"
    )
    parser.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--postprocess", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--answer-rule", default="central")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--out", type=Path, help="write the per-image table here (CSV)")
    args = parser.parse_args(argv)
    thresholds = sorted({*args.thresholds, 0.5})
    use_weight_file(args.weights)
    model = load_model(args.checkpoint).eval()
    size = max(model.identity.min_size)
    if args.isic is not None:
        dataset = ISIC2017Dataset(args.isic, args.split, image_size=size, binarize_masks=True)
        dataset = torch.utils.data.Subset(dataset, range(min(args.limit, len(dataset))))
        where = f"{args.isic} ({args.split})"
    else:  # whole lesions (all their images), drawn by the seeded lesion-grouped subset of answer_rules.py
        dataset = HAM10000Dataset(args.ham, "all", image_size=size, subset=args.limit, binarize_masks=True)
        where = f"{args.ham} (HAM10000, {len(dataset)} images)"
    table = score_thresholds(
        model, dataset, thresholds, tta=args.tta, postprocess=args.postprocess, answer_rule=args.answer_rule
    )
    print(
        f"Mask thresholds of {args.checkpoint} on {where}, input {size} px (shorter side), "
        f"tta={args.tta}, postprocess={args.postprocess}, answer rule {args.answer_rule}:"
    )
    result = summarize(table, thresholds)
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    if args.out:
        table.to_csv(args.out, index=False)
    return result


if __name__ == "__main__":
    main()
