"""Where should mask probabilities be cut? Thresholds compared on a tuning set, never on the held-out images.

isicseg turns the answering detection's mask probabilities into a mask by bilinear
upsampling to the image's size and a threshold (0.5 by default, torchvision's). This
script runs a trained model once per image of a **tuning set** (by default the
lesion-grouped subset of HAM10000 that ``answer_rules.py`` uses, which no held-out ISIC 2017
image is in) as a recipe answers (``--tta``, ``--postprocess``, ``--answer-rule``), keeps
the answering detection's mask probabilities, and scores each threshold of ``--thresholds``
on the same probabilities: mean Jaccard (95% interval), thresholded Jaccard (the
challenge's: a Jaccard under 0.65 counts 0), images under 0.5, and the paired difference
against 0.5. With ``--against`` (the ``--out`` table of another checkpoint on the same
images), the differences are against that model at 0.5 instead: "is this model better?".

    python benchmarks/mask_threshold.py runs/bench_real/recipe/last.pt                 # HAM10000, 800 images
    python benchmarks/mask_threshold.py CKPT --isic ROOT --split train --limit 200     # or an ISIC 2017 root
    python benchmarks/mask_threshold.py A.pt --thresholds 0.5 --out a.csv && \
        python benchmarks/mask_threshold.py B.pt --thresholds 0.5 --against a.csv       # B against A, paired
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from answer_rules import load_tuning_set, print_and_save, tuning_set_parser  # noqa: E402
from wrong_object import jaccard  # noqa: E402

from isicseg.inference import clean_mask, detect, pick_detection
from isicseg.metrics.intervals import mean_interval

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


def summarize(table: pd.DataFrame, columns, reference=0.5, key: str = "threshold") -> pd.DataFrame:
    """One row per column of per-image Jaccards: its mean (95% interval), thresholded mean, images under 0.5,
    and the paired difference against the ``reference`` column."""
    summary = []
    for column in columns:
        values = table[column].to_numpy(float)
        interval = mean_interval(values)
        paired = mean_interval(values - table[reference].to_numpy(float))
        summary.append(
            {
                key: column,
                "mean jaccard": interval.estimate,
                "95% CI": f"{interval.low:.3f}-{interval.high:.3f}",
                "thresholded": float(np.where(values >= 0.65, values, 0.0).mean()),
                "under 0.5": int((values < 0.5).sum()),
                f"minus {reference}": f"{paired.estimate:+.3f} ({paired.low:+.3f} to {paired.high:+.3f})",
            }
        )
    return pd.DataFrame(summary)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = tuning_set_parser(__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--postprocess", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--answer-rule", default="central")
    parser.add_argument(
        "--against", type=Path, help="--out table of another checkpoint on the same images: differences against it"
    )
    args = parser.parse_args(argv)
    thresholds = sorted({*args.thresholds, 0.5})
    model, dataset, size, where = load_tuning_set(args)
    table = score_thresholds(
        model, dataset, thresholds, tta=args.tta, postprocess=args.postprocess, answer_rule=args.answer_rule
    )
    print(
        f"Mask thresholds of {args.checkpoint} on {where}, input {size} px (shorter side), "
        f"tta={args.tta}, postprocess={args.postprocess}, answer rule {args.answer_rule}:"
    )
    if args.against is None:
        return print_and_save(summarize(table, thresholds), table, args.out)
    other = pd.read_csv(args.against)
    if "index" not in other or list(other["index"]) != list(table["index"]) or "0.5" not in other:
        raise SystemExit(
            f"--against {args.against}: expected a per-image table of the same {len(table)} images with a 0.5 "
            f"column (written by --out); got {len(other)} rows with columns {', '.join(map(str, other.columns))}."
        )
    table["against"] = other["0.5"].to_numpy(float)
    print(f"Paired against {args.against} (the other model's masks cut at 0.5, same images):")
    return print_and_save(summarize(table, [*thresholds, "against"], reference="against"), table, args.out)


if __name__ == "__main__":
    main()
