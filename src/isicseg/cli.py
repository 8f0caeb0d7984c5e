"""The ``isicseg`` command line."""

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


TRAINER_FLAGS = {
    "epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float, "warmup_steps": int,
    "schedule": str, "accumulate": int, "grad_clip_norm": float, "precision": str, "num_workers": int,
    "device": str, "seed": int, "validate_every": int,
}
RUN_FLAGS = {
    "data": str, "name": str, "image_size": int, "backbone": str, "pretrained": str, "label_scheme": str,
    "subset": float, "val_split": str, "eval_split": str, "proposals": str, "monitor": str, "patience": int,
}


FLAG_HELP = {
    "data": "ISIC 2017 data root (official layout)",
    "name": "run folder name under --out (default: a timestamp)",
    "image_size": "shorter image side for decoding and for the model (default 512)",
    "backbone": "resnet50_fpn (default), resnet50_fpn_v2, resnet18_fpn, mobilenet_v3_large_fpn or a plugin's",
    "pretrained": "coco (default), none, or a weight file",
    "label_scheme": "binary (default) or three_class",
    "subset": "train on a seeded random subset: a count, or a fraction below 1",
    "val_split": "split validated each epoch (default validation; '' for none)",
    "eval_split": "split the best checkpoint is evaluated on (default test)",
    "proposals": "default, or few (fewer RPN proposals and RoIs: 3-4x faster on CPU)",
    "monitor": "metric that picks best.pt (default val_jaccard)",
    "patience": "early stopping after this many validations without improvement",
    "epochs": "passes over the training data (default 12)",
    "batch_size": "images per step and process (default 2)",
    "optimizer": "sgd (default) or adamw",
    "lr": "learning rate (default: 0.02 x total batch / 16 for SGD, 3e-4 for AdamW)",
    "schedule": "step (default), cosine or constant",
    "precision": "auto (default), bf16, fp16 or fp32 (mixed precision on CUDA only)",
    "num_workers": "DataLoader worker processes (default 0)",
    "device": "auto (default), cpu, cuda, cuda:1, ...",
}


def _train_config(args: argparse.Namespace):
    from .engine import TrainerConfig

    values: dict = {}
    extra: dict = {}
    if args.config:
        loaded = TrainerConfig.from_file(args.config)
        values, extra = loaded.to_dict(), dict(loaded.extra)
        values.pop("extra", None)
    for flag in TRAINER_FLAGS:
        if getattr(args, flag, None) is not None:
            values[flag] = getattr(args, flag)
    for flag in RUN_FLAGS:
        if getattr(args, flag, None) is not None:
            extra[flag] = getattr(args, flag)
    if getattr(args, "balanced", False):
        values["balanced_sampling"] = True
    if isinstance(extra.get("subset"), float) and extra["subset"].is_integer() and extra["subset"] >= 1:
        extra["subset"] = int(extra["subset"])
    values.pop("out_dir", None)
    return TrainerConfig.from_dict({**values, "extra": extra})


def _cmd_train(args: argparse.Namespace) -> int:
    from .engine.run import train_run

    train_run(_train_config(args), out=args.out, resume=args.resume)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .data.synthetic import write_synthetic_isic
    from .engine import TrainerConfig
    from .engine.run import train_run

    start = time.perf_counter()
    data = Path(args.out) / "synthetic-isic"
    if not (data / "ISIC-2017_Test_v2_Part3_GroundTruth.csv").exists():
        write_synthetic_isic(data, num_images={"train": args.train_images, "validation": 24, "test": 40}, image_size=(192, 256))
    print(f"Synthetic ISIC 2017 data (official layout) in {data}; training from scratch, nothing downloaded.")
    resume = args.resume and (Path(args.out) / "demo" / "last.pt").exists()
    name = "demo" if resume or not (Path(args.out) / "demo").exists() else f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = {
        "data": str(data), "name": name, "image_size": args.image_size, "backbone": args.backbone, "pretrained": "none",
        "label_scheme": "binary", "proposals": "few", "monitor": "val_jaccard",
    }
    config = TrainerConfig(
        epochs=args.epochs, batch_size=4, optimizer="adamw", lr=args.lr, warmup_steps=20, schedule="cosine",
        grad_clip_norm=10.0, balanced_sampling=True, seed=0, eval_batch_size=8, device=args.device, extra=settings,
    )
    run_dir, result = train_run(config, out=args.out, resume=resume)
    minutes = (time.perf_counter() - start) / 60
    part1, mel = result.summary["part1"], result.summary["part3"]["melanoma"]
    print(f"Demo finished in {minutes:.1f} min: test mean Jaccard {part1['jaccard']:.3f}, melanoma AUC {mel['auc']:.3f}. Run folder: {run_dir}")
    return 0


def _load_for_inference(args: argparse.Namespace):
    from .data.labels import get_label_scheme
    from .exceptions import ConfigError
    from .models import load_model

    overrides = {k: v for k, v in (("backbone", args.backbone), ("num_classes", args.num_classes)) if v is not None}
    model = load_model(args.weights, **overrides)
    scheme_name = args.label_scheme or model.isicseg_config.get("label_scheme")
    if scheme_name is None:
        by_count = {3: "binary", 4: "three_class"}
        scheme_name = by_count.get(model.isicseg_config["num_classes"])
        if scheme_name is None:
            raise ConfigError(f"{args.weights} does not name its label scheme; pass --label-scheme.")
    scheme = get_label_scheme(scheme_name)
    if scheme.num_classes != model.isicseg_config["num_classes"]:
        raise ConfigError(
            f"Label scheme {scheme.name!r} has {scheme.num_classes} classes but the model in {args.weights} has "
            f"{model.isicseg_config['num_classes']}."
        )
    return model.to(args.device or "cpu"), scheme


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import ISIC2017Dataset
    from .evaluation import evaluate, format_summary

    model, scheme = _load_for_inference(args)
    min_size = model.transform.min_size[-1]
    dataset = ISIC2017Dataset(args.data, args.split, label_scheme=scheme, image_size=args.image_size or min_size)
    result = evaluate(model, dataset, out_dir=args.out, batch_size=args.batch_size, device=args.device)
    print(format_summary(result.summary))
    print(f"Wrote per_image.csv, summary.json, classification.csv, masks/ and figures/ to {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import csv

    from .data.io import read_image
    from .evaluation import write_mask_png
    from .inference import predict
    from .viz import Overlay, plot_overlays

    files: list[Path] = []
    for item in args.inputs:
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png") and not p.stem.endswith("_superpixels"))
        elif item.is_file():
            files.append(item)
        else:
            raise IsicsegError(f"{item} is neither an image file nor a folder.")
    if not files:
        raise IsicsegError(f"No .jpg, .jpeg or .png image found in {', '.join(map(str, args.inputs))}.")
    model, scheme = _load_for_inference(args)
    out = Path(args.out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    with (out / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "predicted_class", "score", "x1", "y1", "x2", "y2", "melanoma", "seborrheic_keratosis"])
        for path, answer in zip(files, predict(model, files, scheme, image_size=args.image_size, batch_size=args.batch_size)):
            write_mask_png(answer.mask, out / "masks" / f"{answer.image_id}_segmentation.png")
            name = scheme.class_names[answer.label] if answer.label else "none"
            box = [f"{v:.1f}" for v in answer.box] if answer.box else ["", "", "", ""]
            probabilities = [f"{answer.probabilities[c]:.4f}" if answer.probabilities[c] == answer.probabilities[c] else "" for c in ("melanoma", "seborrheic_keratosis")]
            writer.writerow([answer.image_id, name, f"{answer.score:.4f}", *box, *probabilities])
            plot_overlays([Overlay(read_image(path), answer.image_id, pred_mask=answer.mask, pred_box=answer.box, caption=f"{name} {answer.score:.2f}")],
                          out / "overlays" / f"{answer.image_id}.png", columns=1)
            print(f"{answer.image_id}: {name} (score {answer.score:.2f})")
    print(f"Wrote masks/, overlays/ and predictions.csv for {len(files)} images to {out}")
    return 0


def _inference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("weights", type=Path, help="isicseg checkpoint or state dict")
    p.add_argument("--label-scheme", help="default: the checkpoint's, else by class count")
    p.add_argument("--backbone", help="for a plain state dict")
    p.add_argument("--num-classes", type=int, help="for a plain state dict")
    p.add_argument("--image-size", type=int, help="decode size (default: the model's min_size)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default cpu)")


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

    p = sub.add_parser("evaluate", help="score a model on an ISIC split and write submission files and figures")
    _inference_options(p)
    p.add_argument("--data", type=Path, required=True, help="ISIC 2017 data root")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--out", type=Path, default=Path("evaluation"))
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="segment and classify image files")
    _inference_options(p)
    p.add_argument("inputs", type=Path, nargs="+", help="image files or folders")
    p.add_argument("--out", type=Path, default=Path("predictions"))
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("train", help="train (and evaluate) a model; writes runs/<name>/")
    p.add_argument("--config", type=Path, help="JSON file of TrainerConfig fields and run settings; flags override it")
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of run folders")
    p.add_argument("--resume", action="store_true", help="continue runs/<name> from its last.pt")
    p.add_argument("--balanced", action="store_true", help="class-balanced sampling")
    for flag, kind in {**RUN_FLAGS, **TRAINER_FLAGS}.items():
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, type=kind, default=None, help=FLAG_HELP.get(flag))
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("demo", help="the whole job on synthetic data: generate, train from scratch, evaluate")
    p.add_argument("--out", type=Path, default=Path("runs"))
    p.add_argument("--backbone", default="resnet18_fpn")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--train-images", type=int, default=160)
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in <out>/demo (otherwise a new run folder is used when <out>/demo exists)")
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
