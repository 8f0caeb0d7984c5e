"""Data-pipeline benchmark: isicseg's reader against a naive full decode plus resize.

Reads every image and mask of the real full-resolution ISIC files at a training size and
prints images/s for both pipelines, measured in the same run, and their ratio. It also
checks that isicseg's masks are identical to nearest-resized full-size masks.

    python benchmarks/bench_data.py [--root ../shared/isic2017-sample] [--sizes 256 512 800]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from isicseg import ISIC2017Dataset
from isicseg.data.io import resized_height_and_width

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "isic2017-sample"


def naive(record, image_size):
    """What a first script does: decode everything at full size, then resize."""
    image = Image.open(record.image_path).convert("RGB")
    height, width = resized_height_and_width(image.size[1], image.size[0], image_size)
    size = (width, height)  # Pillow's order
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR))
    mask = np.asarray(Image.open(record.mask_path).resize(size, Image.Resampling.NEAREST)) > 128
    return pixels, mask


def timed(fn, rounds):
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 800])
    parser.add_argument("--rounds", type=int, default=3, help="repeats; the best round is reported")
    args = parser.parse_args()

    records = []
    for split in ("train", "validation", "test"):
        try:
            records.append(ISIC2017Dataset(args.root, split))
        except FileNotFoundError:
            pass
    n = sum(len(ds) for ds in records)
    sizes = [Image.open(r.image_path).size for ds in records for r in ds.records]
    print(f"{n} images from {args.root}, {min(sizes)} to {max(sizes)} px (width, height)")
    print("first epoch: every mask decoded; later epochs: masks from isicseg's in-memory cache")
    print(
        f"{'shorter side':>12} {'naive img/s':>12} {'first epoch':>12} {'ratio':>6} {'later epochs':>13} {'ratio':>6} {'masks identical':>16}"
    )
    for image_size in args.sizes:
        uncached = [ISIC2017Dataset(args.root, ds.split, image_size=image_size, cache_masks=False) for ds in records]
        cached = [ISIC2017Dataset(args.root, ds.split, image_size=image_size) for ds in records]
        identical = all(
            np.array_equal(ds[i][1]["masks"][0].numpy().astype(bool), naive(ds.records[i], image_size)[1])
            for ds in cached  # this also fills the cache
            for i in range(len(ds))
        )
        identical &= all(
            np.array_equal(a[i][1]["masks"], b[i][1]["masks"]) for a, b in zip(cached, uncached) for i in range(len(a))
        )
        theirs = timed(lambda size=image_size: [naive(r, size) for ds in records for r in ds.records], args.rounds)
        first = timed(lambda sets=uncached: [ds[i] for ds in sets for i in range(len(ds))], args.rounds)
        later = timed(lambda sets=cached: [ds[i] for ds in sets for i in range(len(ds))], args.rounds)
        print(
            f"{image_size:>12} {n / theirs:>12.1f} {n / first:>12.1f} {theirs / first:>5.2f}x "
            f"{n / later:>13.1f} {theirs / later:>5.2f}x {str(identical):>16}"
        )


if __name__ == "__main__":
    main()
