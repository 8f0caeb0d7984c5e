"""Which detection should be the answer? Answer rules compared on a tuning set, never on the held-out images.

A Mask R-CNN answers an ISIC image with many detections; isicseg's answer rule turns them
into one mask. ``wrong_object.py`` found that the failures of the CPU recipe on held-out
images are *wrong picks*: the model had a good detection and the rule took another. This
script runs a trained model once per image of a **tuning set** (by default a
lesion-grouped subset of HAM10000, which no held-out ISIC 2017 image is in), keeps all its
detections, and scores each rule on the same detections:

* ``top``: the top-scoring detection (isicseg's rule);
* ``central``: the score minus the distance of the box centre from the image centre (in
  fractions of width and height), so that a far-off object must score much higher;
* ``oracle``: the detection with the best Jaccard (what a perfect rule would reach).

    python benchmarks/answer_rules.py runs/bench_real/recipe/last.pt                  # HAM10000, 800 images
    python benchmarks/answer_rules.py CKPT --isic ROOT --split train --limit 200      # or an ISIC 2017 root
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
from isicseg.inference import pick_detection
from isicseg.metrics.intervals import mean_interval

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
RULES = ("top", "central")


@torch.inference_mode()
def score_rules(model, dataset) -> pd.DataFrame:
    rows = []
    for index in range(len(dataset)):
        image, target = dataset[index]
        truth = target["masks"].any(0).numpy() if len(target["masks"]) else np.zeros(image.shape[-2:], bool)
        image = image.float() / 255 if image.dtype == torch.uint8 else image
        output = model([image], classify=False)[0] if hasattr(model, "classify") else model([image])[0]
        masks = (output["masks"][:, 0] > 0.5).numpy()
        values = [jaccard(m, truth) for m in masks]
        row = {"index": index, "detections": len(values), "lesion share": float(truth.mean())}
        for rule in RULES:
            pick = pick_detection(output, rule=rule)
            row[rule] = values[pick] if pick is not None else 0.0
        row["oracle"] = max(values, default=0.0)
        rows.append(row)
    return pd.DataFrame(rows)


def tuning_set_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a script that scores a checkpoint on the tuning set: which model, which images, where to write."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--ham", type=Path, default=SHARED / "ham10000-200", help="HAM10000 root (the default set)")
    parser.add_argument("--isic", type=Path, help="score this ISIC 2017 root's --split instead of HAM10000")
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--limit", type=int, default=800, help="images at least (HAM10000: whole lesions, all their images)"
    )
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--out", type=Path, help="write the per-image table here (CSV)")
    return parser


def print_and_save(result: pd.DataFrame, table: pd.DataFrame, out: Path | None) -> pd.DataFrame:
    """Print the summary, write the per-image table to ``out`` (CSV) when given, and return the summary."""
    print(result.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    if out:
        table.to_csv(out, index=False)
    return result


def load_tuning_set(args: argparse.Namespace):
    """The checkpoint's model (eval mode), the tuning set at its input size, the size, and where the images are."""
    use_weight_file(args.weights, keep_existing=True)
    model = load_model(args.checkpoint).eval()
    size = max(model.identity.min_size)
    if args.isic is not None:
        dataset = ISIC2017Dataset(args.isic, args.split, image_size=size, binarize_masks=True)
        dataset = torch.utils.data.Subset(dataset, range(min(args.limit, len(dataset))))
        where = f"{args.isic} ({args.split})"
    else:  # whole lesions (all their images), drawn by a seeded lesion-grouped subset
        dataset = HAM10000Dataset(args.ham, "all", image_size=size, subset=args.limit, binarize_masks=True)
        where = f"{args.ham} (HAM10000, {len(dataset)} images)"
    return model, dataset, size, where


def main(argv: list[str] | None = None) -> pd.DataFrame:
    args = tuning_set_parser(__doc__.splitlines()[0]).parse_args(argv)
    model, dataset, size, where = load_tuning_set(args)
    table = score_rules(model, dataset)
    print(f"Answer rules of {args.checkpoint} on {where}, input {size} px (shorter side), no TTA:")
    summary = []
    for rule in (*RULES, "oracle"):
        interval = mean_interval(table[rule].to_numpy(float))
        summary.append(
            {
                "rule": rule,
                "mean jaccard": interval.estimate,
                "95% CI": f"{interval.low:.3f}-{interval.high:.3f}",
                "under 0.5": int((table[rule] < 0.5).sum()),
            }
        )
    for rule in RULES[1:]:  # paired against today's rule on the same images
        paired = mean_interval((table[rule] - table["top"]).to_numpy(float))
        summary.append(
            {
                "rule": f"{rule} - top",
                "mean jaccard": paired.estimate,
                "95% CI": f"{paired.low:+.3f} to {paired.high:+.3f}",
                "under 0.5": int((table[rule] < 0.5).sum() - (table["top"] < 0.5).sum()),
            }
        )
    result = pd.DataFrame(summary)
    return print_and_save(result, table, args.out)


if __name__ == "__main__":
    main()
