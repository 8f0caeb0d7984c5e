"""The ``isicseg`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ._flags import config_flags, inference_config, resume_config, run_config, train_flags
from .exceptions import ConfigError, IsicsegError

__all__ = ["main"]

DEMO_CONFIG = Path(__file__).with_name("configs") / "isic2017_demo.json"
DEMO_TRAIN_IMAGES = 120
"""Synthetic training images of ``isicseg demo`` (its validation and test splits hold 24 and 40)."""
DEMO_IMAGE_SHAPE = (160, 160)
"""Height and width of the demo's synthetic images: square, so that a quarter turn (the
``train`` augmentation) keeps a batch's images one shape and no batch is padded to a
square (with 4:3 images at 128 px a mixed batch is padded to 192x192, 1.5x the pixels)."""
DEMO_DATA_MARKER = ".isicseg-demo.json"
"""The file in the demo's data folder that says with which counts and shape it was written."""


PREDICT_OUTPUTS = ("masks", "overlays", "predictions.csv")


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.synthetic import check_num_images, check_synthetic_size, synthetic_names, write_synthetic_isic
    from .outputs import staged_output

    counts = {"train": args.train, "validation": args.validation, "test": args.test}
    check_num_images(counts)  # before anything in the root is replaced
    check_synthetic_size((args.height, args.width))
    owned = synthetic_names(counts)
    with staged_output(args.root, owned, overwrite=args.overwrite, command="synth") as staging:
        write_synthetic_isic(staging, num_images=counts, image_size=(args.height, args.width), seed=args.seed)
    print(f"Wrote synthetic ISIC 2017 data to {args.root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


DOWNLOADABLE = ("isic2017", "ham10000")
SPLIT_CHOICES = ("train", "validation", "test")


def _cmd_download(args: argparse.Namespace) -> int:
    from .data.check import check_dataset
    from .data.download import download_ham10000, download_isic2017

    if len(args.target) > 2 or (len(args.target) == 2 and args.target[0] not in DOWNLOADABLE):
        raise ConfigError(
            f"isicseg download takes [DATASET] ROOT; got {' '.join(args.target)!r}. DATASET is one of "
            f"{', '.join(DOWNLOADABLE)} (default isic2017)."
        )
    dataset, root = (
        (args.target[0], Path(args.target[1])) if len(args.target) == 2 else ("isic2017", Path(args.target[0]))
    )
    if dataset == "ham10000":
        if args.split is not None or args.keep_superpixels:
            raise ConfigError(
                "HAM10000 has one split and no superpixels: --split and --keep-superpixels are for isic2017 only."
            )
        fetched = download_ham10000(
            root, parts=args.parts, mirror=args.mirror, keep_archives=args.keep_archives, verify=not args.no_verify
        )
    else:
        fetched = download_isic2017(
            root,
            args.split or SPLIT_CHOICES,
            parts=args.parts,
            mirror=args.mirror,
            keep_archives=args.keep_archives,
            keep_superpixels=args.keep_superpixels,
            verify=not args.no_verify,
        )
    print(
        f"Downloaded {', '.join(fetched)} into {root}."
        if fetched
        else f"Everything asked for is already in {root}; nothing downloaded."
    )
    if set(args.parts) != {"images", "masks", "labels"}:
        of = "" if dataset == "ham10000" else f" of {', '.join(args.split or SPLIT_CHOICES)}"
        print(f"Verified {', '.join(args.parts)}{of}; `isicseg check {root}` checks the data once all parts are there.")
        return 0
    report = check_dataset(root, None if dataset == "ham10000" else args.split or SPLIT_CHOICES)
    print(report)
    return 0 if report.ok else 1


def _cmd_check(args: argparse.Namespace) -> int:
    from .data.check import check_dataset

    report = check_dataset(args.root, args.split or None)
    print(report)
    return 0 if report.ok else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import resolve_recipe
    from .run import train_run

    config = resume_config(args) if args.resume else run_config(args)
    config_file = [resolve_recipe(args.config)] if args.config and not args.resume else []
    train_run(config, runs_dir=args.out, resume=args.resume, inputs=config_file)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .config import RunConfig
    from .data.synthetic import check_num_images
    from .run import train_run

    start = time.perf_counter()
    if args.train_images < 1:
        raise ConfigError(f"--train-images must be an int >= 1 (the demo trains on them); got {args.train_images}.")
    counts = {"train": args.train_images, "validation": 24, "test": 40}
    check_num_images(counts)
    out = Path(args.out)
    resume = args.resume and (out / "demo" / "last.pt").exists()
    name = "demo" if resume or not (out / "demo").exists() else f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    args.name = name  # for the note on an interruption
    data = out / "synthetic-isic"
    flags = {
        k: getattr(args, k)
        for k in ("image_size", "backbone", "epochs", "lr", "device")
        if getattr(args, k) is not None
    }
    config = RunConfig.from_file(DEMO_CONFIG).replace(
        name=name, root=str(data), **flags
    )  # every flag is checked here, before any file is written
    _write_demo_data(data, counts)
    print(f"Synthetic ISIC 2017 data (official layout) in {data}; training from scratch, nothing downloaded.")
    run_dir, result = train_run(config, runs_dir=out, resume=resume)
    minutes = (time.perf_counter() - start) / 60
    summary = result.summary
    evaluation = run_dir / "evaluation"
    print(
        f"Demo finished in {minutes:.1f} min: test mean Jaccard {summary.jaccard:.3f}, melanoma AUC "
        f"{summary.auc('melanoma'):.3f}.\n"
        f"  run folder:  {run_dir} (best.pt, last.pt, config.json, history.csv, loss_curve.png, train.log)\n"
        f"  figures:     {evaluation / 'figures'}\n"
        f"  submission:  {evaluation / 'masks'} (ISIC 2017 task 1) and {evaluation / 'classification.csv'} (task 3)\n"
        f"On real ISIC 2017 data (isicseg download isic2017 data/isic2017), evaluate this model with:\n"
        f"  isicseg evaluate {run_dir / 'best.pt'} --data data/isic2017 --split test --out "
        f"{out / (run_dir.name + '-isic2017-test')}\n"
        "(trained on synthetic images, it is not a lesion model: train one with isicseg train --config "
        "isic2017_cpu --data data/isic2017)"
    )
    return 0


def _write_demo_data(data: Path, counts: dict[str, int]) -> None:
    """The demo's synthetic data, written whole into a staging folder and renamed into place (kept for later demos).

    A folder of an earlier demo is reused when its marker file (``.isicseg-demo.json``)
    names the same image counts and shape; any other folder there (incomplete, or written
    with other settings or by an older isicseg) is moved aside, not deleted.
    """
    from .data.synthetic import write_synthetic_isic

    wanted = {"counts": counts, "image_shape": list(DEMO_IMAGE_SHAPE)}
    marker = data / DEMO_DATA_MARKER
    try:
        if json.loads(marker.read_text()) == wanted:
            return
    except (OSError, ValueError):
        pass
    if data.exists():
        aside = data.with_name(f"{data.name}.earlier-{time.strftime('%Y%m%d-%H%M%S')}")
        data.rename(aside)
        print(f"{data} was incomplete or written with other settings; moved it aside to {aside.name}.")
    staging = data.with_name(f".{data.name}.writing")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed demo: only ever written here
    write_synthetic_isic(staging, num_images=counts, image_size=DEMO_IMAGE_SHAPE)
    (staging / DEMO_DATA_MARKER).write_text(json.dumps(wanted))
    staging.rename(data)


def _weight_file(args: argparse.Namespace) -> list[Path]:
    """The weights argument as an input that outputs must stay apart from (a folder or a missing file is refused
    when it is read)."""
    return [args.weights] if Path(args.weights).is_file() else []


def _load_for_inference(args: argparse.Namespace):
    from ._devices import resolve_device
    from .labels import get_label_scheme
    from .models import load_model

    device = resolve_device(args.device or "cpu")  # before the weights are read

    overrides = {
        k: v
        for k, v in (
            ("backbone", args.backbone),
            ("num_classes", args.num_classes),
            ("label_scheme", args.label_scheme),
        )
        if v is not None
    }
    model = load_model(args.weights, **overrides)
    if model.identity.label_scheme is None:
        raise ConfigError(
            f"{args.weights} does not name its label scheme (a plain state dict); pass --label-scheme (binary or "
            "three_class)."
        )
    scheme = get_label_scheme(model.identity.label_scheme)
    return model.to(device), scheme


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import ISIC2017Dataset
    from .data.layout import split_paths
    from .evaluation import EVALUATE_OUTPUTS, evaluate, format_summary
    from .outputs import check_output_folder

    config = inference_config(args)
    paths = split_paths(args.data, args.split)
    check_output_folder(
        args.out,
        EVALUATE_OUTPUTS,
        overwrite=args.overwrite,
        command="evaluate",
        inputs=[paths.images, paths.masks, paths.csv, *_weight_file(args)],
    )
    model, scheme = _load_for_inference(args)  # everything is checked before any result is replaced
    size = args.image_size if args.image_size is not None else model.transform.min_size[-1]
    dataset = ISIC2017Dataset(args.data, args.split, label_scheme=scheme, image_size=size)
    result = evaluate(model, dataset, config=config, out_dir=args.out, device=args.device, overwrite=args.overwrite)
    print(format_summary(result.summary))
    print(f"Wrote per_image.csv, summary.json, classification.csv, masks/ and figures/ to {args.out}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .inference import list_image_files, predict
    from .outputs import check_output_folder, staged_output

    config = inference_config(args)
    files, skipped = list_image_files(args.inputs)
    for line in skipped:
        print(f"Skipped {line}")
    out = Path(args.out)
    inputs = [*args.inputs, *files, *_weight_file(args)]
    check_output_folder(out, PREDICT_OUTPUTS, overwrite=args.overwrite, command="predict", inputs=inputs)
    model, scheme = _load_for_inference(args)  # everything is checked before any result is replaced
    answers = predict(
        model, files, config=config, label_scheme=scheme, image_size=args.image_size
    )  # checks its arguments before the first image
    with staged_output(out, PREDICT_OUTPUTS, overwrite=args.overwrite, command="predict", inputs=inputs) as staging:
        _write_predictions(staging, files, answers, scheme)
    print(f"Wrote masks/, overlays/ and predictions.csv for {len(files)} images to {out}")
    return 0


def _write_predictions(folder: Path, files: list[Path], answers, scheme) -> None:
    """Masks, overlays and ``predictions.csv`` of the answers, in ``folder``."""
    import csv

    from .evaluation import write_mask_png
    from .evaluation.report import write_answer_overlay

    (folder / "masks").mkdir()
    (folder / "overlays").mkdir()
    with (folder / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["image_id", "predicted_class", "score", "x1", "y1", "x2", "y2", "melanoma", "seborrheic_keratosis"]
        )
        for path, answer in zip(files, answers):
            write_mask_png(answer.mask, folder / "masks" / f"{answer.image_id}_segmentation.png")
            name = scheme.class_names[answer.label] if answer.label else "none"
            box = [f"{v:.1f}" for v in answer.box] if answer.box else ["", "", "", ""]
            probabilities = [
                f"{answer.probabilities[c]:.4f}" if answer.probabilities[c] == answer.probabilities[c] else ""
                for c in ("melanoma", "seborrheic_keratosis")
            ]
            writer.writerow([answer.image_id, name, f"{answer.score:.4f}", *box, *probabilities])
            write_answer_overlay(
                path, answer, f"{name} {answer.score:.2f}", folder / "overlays" / f"{answer.image_id}.png"
            )
            print(f"{answer.image_id}: {name} (score {answer.score:.2f})")


def _inference_options(p: argparse.ArgumentParser) -> None:
    from .inference import InferenceConfig

    p.add_argument("weights", type=Path, help="isicseg checkpoint or state dict")
    group = p.add_argument_group("model")
    group.add_argument("--label-scheme", help="default: the checkpoint's, else by class count")
    group.add_argument("--backbone", help="for a plain state dict")
    group.add_argument("--num-classes", type=int, help="for a plain state dict")
    group.add_argument("--image-size", type=int, help="decode size (default: the model's min_size)")
    group.add_argument("--device", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty --out, replacing the files this command writes there",
    )
    config_flags(p, InferenceConfig, title="inference settings (InferenceConfig)")


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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty root, replacing its ISIC-2017_* files and folders",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("download", help="download ISIC 2017 or HAM10000 into the official layout (resumable, verified)")
    p.add_argument(
        "target",
        nargs="+",
        metavar="[DATASET] ROOT",
        help="data root to fill, after the dataset: isic2017 (default) or ham10000 (ISIC 2018 Task 3 layout with "
        "the lesion masks; CC BY-NC 4.0)",
    )
    p.add_argument("--split", nargs="+", choices=SPLIT_CHOICES, help="ISIC 2017 splits (default: all three)")
    p.add_argument(
        "--parts",
        nargs="+",
        default=["images", "masks", "labels"],
        choices=["images", "masks", "labels"],
        help="parts (default: all three)",
    )
    p.add_argument(
        "--mirror",
        help="base URL or folder of the files (default: $ISICSEG_MIRROR or the challenge's bucket); file:///folder "
        "for zips downloaded by hand",
    )
    p.add_argument("--keep-archives", action="store_true", help="keep the zips after extracting them")
    p.add_argument("--keep-superpixels", action="store_true", help="extract the *_superpixels.png files too")
    p.add_argument("--no-verify", action="store_true", help="skip the MD5 checks (when the release changed upstream)")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("check", help="validate a data root and list every problem")
    p.add_argument("root", type=Path)
    p.add_argument(
        "--split",
        action="append",
        choices=["train", "validation", "test"],
        help="split to check (repeatable; default: all present)",
    )
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("evaluate", help="score a model on an ISIC split and write submission files and figures")
    _inference_options(p)
    p.add_argument("--data", type=Path, required=True, help="ISIC 2017 data root")
    p.add_argument(
        "--split", default="test", choices=["train", "validation", "test"], help="split to score (default test)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("evaluation"),
        help="folder for the scores, submission files and figures (default evaluation)",
    )
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="segment and classify image files")
    _inference_options(p)
    p.add_argument("inputs", type=Path, nargs="+", help="image files or folders")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("predictions"),
        help="folder for masks/, overlays/ and predictions.csv (default predictions)",
    )
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("train", help="train (and evaluate) a model; writes runs/<name>/")
    p.add_argument(
        "--config",
        help="JSON run configuration, or a recipe name (isic2017_cpu, isic2017_resnet50_coco_gpu, isic2017_demo); "
        "the flags below override it",
    )
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of run folders (default runs)")
    p.add_argument("--name", help="run folder name under --out (default: a timestamp)")
    p.add_argument("--resume", action="store_true", help="continue <out>/<name> from its last.pt")
    p.add_argument("--balanced", action="store_true", help="class-balanced sampling (same as --balanced-sampling true)")
    train_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export", help="write a trained model as an ONNX or TorchScript file that runs without isicseg")
    p.add_argument("checkpoint", type=Path, help="isicseg checkpoint (last.pt, best.pt)")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--out", type=Path, required=True, help="file to write (model.onnx, model.pt)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (16-20; default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_cmd_export)

    _demo_parser(sub)
    return parser


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_model, read_export_metadata

    out = export_model(args.checkpoint, args.out, format=args.format, opset=args.opset, overwrite=args.overwrite)
    metadata = read_export_metadata(out)
    print(
        f"Wrote {out} ({args.format}; outputs {', '.join(metadata['outputs'])}; input float32 RGB (3, H, W) in [0, 1], "
        f"shorter side {metadata['input']['input_shorter_side']}). The answer rule and optional clean-up run "
        "outside the graph: see 'Deploying a model'."
    )
    return 0


def _demo_parser(sub) -> None:
    p = sub.add_parser(
        "demo", help="the whole job on synthetic data: generate, train from scratch, evaluate (recipe isic2017_demo)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs"),
        help="parent of the run folder and of the synthetic data (default runs)",
    )
    p.add_argument("--backbone", help="default: the recipe's")
    p.add_argument("--image-size", type=int, help="default: the recipe's")
    p.add_argument("--epochs", type=int, help="default: the recipe's")
    p.add_argument("--lr", type=float, help="default: the recipe's")
    p.add_argument(
        "--train-images",
        type=int,
        default=DEMO_TRAIN_IMAGES,
        help=f"synthetic training images (default {DEMO_TRAIN_IMAGES})",
    )
    p.add_argument("--device", help="cpu, cuda, auto (default: the recipe's)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted demo in <out>/demo (otherwise a new run folder is used when <out>/demo exists)",
    )
    p.set_defaults(func=_cmd_demo)


TRACEBACK_ENV = "ISICSEG_TRACEBACK"
"""Set to 1 to see the traceback of an unexpected error (a bug) instead of its one-line summary."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``isicseg`` command; returns the exit status.

    Exit codes: 0 success, 1 a check found problems or an unexpected (internal) error,
    2 a usage, data or file error (one line on stderr, naming what is wrong), 130 Ctrl-C.
    """
    args = build_parser().parse_args(_negative_values_joined(sys.argv[1:] if argv is None else list(argv)))
    with _console_logging():
        try:
            return args.func(args)
        except IsicsegError as error:
            print(f"isicseg {args.command}: error: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a read-only folder, a full disk, a missing file outside isicseg's own checks
            print(f"isicseg {args.command}: error: {_os_error(error)} {_left_behind(args)}".rstrip(), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"isicseg {args.command}: interrupted. {_interrupted_note(args)}", file=sys.stderr)
            return 130
        except Exception as error:  # a bug, here or in a library: say so, without looking like a user error
            if os.environ.get(TRACEBACK_ENV) == "1":
                raise
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            print(
                f"isicseg {args.command}: internal error: {type(error).__name__}: {first} (not a problem isicseg "
                "found in "
                f"your input; run again with {TRACEBACK_ENV}=1 to see where it happened, and report it)",
                file=sys.stderr,
            )
            return 1


_NEGATIVE = re.compile(r"^-\.?\d")


def _negative_values_joined(argv: list[str]) -> list[str]:
    """``--flag -0.5,1.5`` as ``--flag=-0.5,1.5``: argparse takes a value that starts with ``-`` and is not a plain
    negative number for an option and says "expected one argument"; joined, the flag's own check names the value.
    """
    joined: list[str] = []
    for token in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and _NEGATIVE.match(token):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def _os_error(error: OSError) -> str:
    """One line for an ``OSError``: the cause and the path(s) involved."""
    paths = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
    cause = error.strerror or str(error) or type(error).__name__
    return f"{cause}: {paths}." if paths else f"{cause}."


def _left_behind(args: argparse.Namespace) -> str:
    """What a failed command left on disk."""
    if args.command in ("evaluate", "predict"):
        return f"Earlier results in {args.out} are as they were; no new result was kept."
    if args.command == "synth":
        return f"{args.root} is as it was."
    if args.command in ("train", "demo"):
        return _interrupted_note(args).replace("; continue it with:", "; once the cause is fixed, continue it with:")
    return ""


@contextmanager
def _console_logging() -> Iterator[None]:
    """The command's console while it runs: the ``isicseg`` logger's INFO lines on stdout.

    The handler and level are taken back afterwards, so ``main()`` called from Python
    (a notebook, a test) leaves the caller's logging as it was.
    """
    from .logs import logger

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _interrupted_note(args: argparse.Namespace) -> str:
    """What an interrupted command left behind, and how to go on."""
    if args.command in ("evaluate", "predict", "synth"):
        return _left_behind(args)
    if args.command not in ("train", "demo"):
        return "Run the command again to finish it."
    name = getattr(args, "name", None)
    last = Path(args.out) / name / "last.pt" if name else None
    if last is None or not last.is_file():
        return "No epoch had finished, so nothing was saved; start the run again."
    from .checkpoint import read_checkpoint

    try:
        epoch = read_checkpoint(last).epoch
    except IsicsegError:
        epoch = None
    if epoch is None:
        return f"{last} is there but cannot be read as a checkpoint; start the run again."
    epoch += 1
    again = (
        f"isicseg demo --out {args.out} --resume"
        if name == "demo"
        else f"isicseg train --out {args.out} --name {name} --resume"
    )
    return f"{last} holds the run after epoch {epoch}; continue it with: {again}"


if __name__ == "__main__":
    raise SystemExit(main())
