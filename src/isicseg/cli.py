"""The ``isicseg`` command line: ``synth``, ``check`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .exceptions import IsicsegError

__all__ = ["main"]


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.synthetic import write_synthetic_isic

    counts = {"train": args.train, "validation": args.validation, "test": args.test}
    root = write_synthetic_isic(args.root, num_images=counts, image_size=(args.height, args.width), seed=args.seed)
    print(f"Wrote synthetic ISIC 2017 data to {root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .data.check import check_dataset

    report = check_dataset(args.root, args.split or None)
    print(report)
    return 0 if report.ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from .data import ISIC2017Dataset, write_synthetic_isic
    from .models import build_mask_rcnn
    from .transforms import get_transform

    start = time.perf_counter()
    out = Path(args.out)
    root = write_synthetic_isic(out / "data", num_images={"train": 8, "validation": 4, "test": 4}, image_size=(192, 256))
    train = ISIC2017Dataset(root, "train", image_size=args.image_size, transforms=get_transform("train"))
    print(f"Synthetic data in {root}\n{train}")
    model = build_mask_rcnn(train.label_scheme.num_classes, pretrained=False, backbone=args.backbone, min_size=args.image_size)
    images, targets = zip(*(train[i] for i in range(2)))
    model.train()
    losses = model(list(images), list(targets))
    print("Losses of one training forward pass: " + ", ".join(f"{k}={v.item():.3f}" for k, v in losses.items()))
    model.eval()
    with torch.no_grad():
        predictions = model(list(images))
    print(f"Eval forward pass: {[len(p['boxes']) for p in predictions]} detections per image; {time.perf_counter() - start:.1f} s in all.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="isicseg", description="Mask R-CNN for ISIC 2017 skin lesions.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write synthetic ISIC 2017 data in the official layout")
    p.add_argument("root", type=Path)
    p.add_argument("--train", type=int, default=120)
    p.add_argument("--validation", type=int, default=30)
    p.add_argument("--test", type=int, default=40)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("check", help="validate a data root and list every problem")
    p.add_argument("root", type=Path)
    p.add_argument("--split", action="append", choices=["train", "validation", "test"], help="split to check (repeatable; default: all present)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("demo", help="run the whole job on synthetic data (nothing is downloaded)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--backbone", default="resnet18_fpn")
    p.add_argument("--image-size", type=int, default=128)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``isicseg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IsicsegError as error:
        print(f"isicseg {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
