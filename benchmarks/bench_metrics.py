"""Metric benchmark: ISIC Part 1 and Part 3 scores for 600 images of 1024x768 masks.

Model time is excluded: masks and probabilities are made up front. Prints the seconds
isicseg takes (per-image scores, then the summary) against a plain baseline measured in
the same run, one that computes each score with its own NumPy boolean operations, as a
first script would, and checks that both agree.

    python benchmarks/bench_metrics.py [--images 600] [--height 768] [--width 1024]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from isicseg.evaluation import segmentation_row, summarize


def baseline_row(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    tp = np.sum(pred & true)
    fp = np.sum(pred & ~true)
    fn = np.sum(~pred & true)
    tn = np.sum(~pred & ~true)
    jaccard = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    return {
        "jaccard": jaccard,
        "dice": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
        "pixel_accuracy": (tp + tn) / pred.size,
        "pixel_sensitivity": tp / (tp + fn) if tp + fn else 1.0,
        "pixel_specificity": tn / (tn + fp) if tn + fp else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : args.height, 0 : args.width]
    truths, preds = [], []
    for _ in range(args.images):
        cy, cx, r = (
            rng.uniform(0.3, 0.7) * args.height,
            rng.uniform(0.3, 0.7) * args.width,
            rng.uniform(0.15, 0.3) * args.height,
        )
        truths.append((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)
        preds.append(
            (yy - cy - rng.normal(0, 10)) ** 2 + (xx - cx - rng.normal(0, 10)) ** 2 < (r * rng.uniform(0.85, 1.1)) ** 2
        )
    labels = rng.random(args.images) < 0.19
    sk = ~labels & (rng.random(args.images) < 0.16)
    probs = np.clip(labels * 0.4 + rng.random(args.images) * 0.6, 0, 1)
    probs_sk = np.clip(sk * 0.4 + rng.random(args.images) * 0.6, 0, 1)

    start = time.perf_counter()
    rows = [{"image_id": str(i), **segmentation_row(p, t)} for i, (p, t) in enumerate(zip(preds, truths))]
    table = pd.DataFrame(rows).assign(
        p_melanoma=probs,
        is_melanoma=labels.astype(int),
        p_seborrheic_keratosis=probs_sk,
        is_seborrheic_keratosis=sk.astype(int),
    )
    summary = summarize(table, "three_class")
    ours = time.perf_counter() - start

    start = time.perf_counter()
    base = [baseline_row(p, t) for p, t in zip(preds, truths)]
    baseline = time.perf_counter() - start

    agree = all(
        abs(a["jaccard"] - b["jaccard"]) < 1e-12 and abs(a["dice"] - b["dice"]) < 1e-12 for a, b in zip(rows, base)
    )
    print(f"{args.images} images of {args.width}x{args.height} masks")
    print(
        f"isicseg: {ours:.2f} s for per-image Part 1 scores and the Part 1 + Part 3 summary "
        f"(mean Jaccard {summary.jaccard:.3f}, melanoma AUC {summary.auc('melanoma'):.3f})"
    )
    print(f"baseline (per-score boolean NumPy, Part 1 only): {baseline:.2f} s")
    print(f"ratio baseline / isicseg: {baseline / ours:.2f}x; per-image scores agree: {agree}")


if __name__ == "__main__":
    main()
