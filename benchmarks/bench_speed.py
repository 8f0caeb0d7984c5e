"""CPU speed of the CPU recipe: fp32 against bf16 and bf16 + channels_last, and what it costs in quality.

Three parts, all measured in one run so that only ratios are compared:

1. **Training steps**: images/s of the recipe's model (``configs/isic2017_cpu.json``: its
   backbone, head and image size) on real ISIC thumbnails, batch of the recipe, in each
   mode. Every mode starts from the same weights and sees the same batches; the modes
   take turns over ``--rounds`` rounds and the median time per step is kept.
2. **Prediction on full-resolution images** (``isicseg predict``'s path on the shared
   sample's original JPEGs, up to 3072x2304): images/s in each mode and where the time goes
   (decode, model, mask upsampling to the original size, writing the mask PNG and the
   overlay figure), against the writer isicseg had before (overlay drawn from the
   full-resolution image, PNG at zlib level 6), measured in the same run.
3. **Quality**: the same short training (fixed seed, same batches) in fp32 and in each fast
   mode, each evaluated (in its own precision) on the same held-out real images: a
   seeded, diagnosis-stratified 20% of ``isic2017-train-384`` that no run trains on.
   A fast mode may only become a default if its mean Jaccard and melanoma AUC are within
   0.01 of fp32's.

    python benchmarks/bench_speed.py              # ~25 min on 2 cores
    python benchmarks/bench_speed.py --quick      # smoke run, ~3 min

The ImageNet MobileNetV2 file (``--weights``, default ``../shared/weights/...``) is put in a
temporary TORCH_HOME; without it the recipe's model is built with random weights (the same
arithmetic, so speeds still compare; the quality part is then skipped).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _holdout import make_holdout_root  # noqa: E402
from _weights import use_weight_file  # noqa: E402

from isicseg import ISIC2017Dataset  # noqa: E402
from isicseg.config import RunConfig, resolve_recipe  # noqa: E402
from isicseg.data.io import read_height_and_width, read_image  # noqa: E402
from isicseg.engine import collate  # noqa: E402
from isicseg.evaluation import write_mask_png  # noqa: E402
from isicseg.evaluation.report import write_answer_overlay  # noqa: E402
from isicseg.inference import answer_from_detections, detect  # noqa: E402
from isicseg.run import build_model, train_run  # noqa: E402
from isicseg.transforms import get_transform  # noqa: E402
from isicseg.viz import Overlay, plot_overlays  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MODES = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16+channels_last": ("bf16", True)}
BEFORE = (
    "fp32, 0.2 writer"  # prediction baseline: full-resolution overlay, zlib level 6 (isicseg before this benchmark)
)


def write_like_before(path: Path, answer, folder: Path) -> None:
    """What ``isicseg predict`` wrote per image before: mask PNG at zlib's default level and
    an overlay drawn from the image decoded at full resolution."""
    Image.fromarray(answer.mask.astype(np.uint8) * 255).save(folder / f"{path.stem}_segmentation.png")
    plot_overlays(
        [Overlay(read_image(path), path.stem, pred_mask=answer.mask, pred_box=answer.box, caption="caption")],
        folder / f"{path.stem}.png",
        columns=1,
        max_side=None,
    )


def _prepared(model: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    model = copy.deepcopy(model)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def train_speed(config: RunConfig, data: Path, steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per training step of each mode (same initial weights, same batches)."""
    size, batch_size = config.data.image_size, config.trainer.batch_size
    dataset = ISIC2017Dataset(
        data,
        "train",
        label_scheme=config.data.label_scheme,
        image_size=size,
        transforms=get_transform("train"),
        subset=batch_size * (steps + 1),
        seed=0,
    )
    torch.manual_seed(0)
    batches = [collate([dataset[i] for i in range(k * batch_size, (k + 1) * batch_size)]) for k in range(steps + 1)]
    torch.manual_seed(0)
    base = build_model(config, dataset.label_scheme.num_classes)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(rounds):
        order = list(MODES) if round_ % 2 == 0 else list(reversed(MODES))
        for mode in order:
            precision, channels_last = MODES[mode]
            model = _prepared(base, channels_last).train()
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            for k, (images, targets) in enumerate(batches):  # batch 0 warms up (oneDNN picks its kernels)
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                    losses = model(list(images), list(targets))
                loss = sum(losses.values())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if k:
                    times[mode].append(time.perf_counter() - start)
    return {mode: statistics.median(values) for mode, values in times.items()}


def predict_speed(config: RunConfig, images: list[Path], out: Path, rounds: int) -> pd.DataFrame:
    """Seconds per image of each stage of ``isicseg predict`` on full-resolution files, per mode."""
    torch.manual_seed(0)
    base = build_model(config, 4).eval()
    size = config.data.image_size
    rows = []
    modes = {BEFORE: MODES["fp32"], **MODES}
    for round_ in range(rounds):
        order = list(modes) if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            precision, channels_last = modes[mode]
            model = _prepared(base, channels_last)
            folder = out / mode.replace(", ", "_").replace(" ", "_")
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            stages = dict.fromkeys(("decode", "model", "upsample", "write"), 0.0)
            with torch.inference_mode():
                detect(model, [torch.rand(3, size, size)], precision=precision)  # warm-up
                for path in images:
                    t0 = time.perf_counter()
                    image = torch.from_numpy(read_image(path, size)).permute(2, 0, 1).float().div_(255)
                    original = read_height_and_width(path)
                    t1 = time.perf_counter()
                    output = {
                        k: v.cpu()
                        for k, v in detect(model, [image], tta=config.eval.tta, precision=precision)[0].items()
                    }
                    t2 = time.perf_counter()
                    answer = answer_from_detections(
                        output,
                        "three_class",
                        image_id=path.stem,
                        original_height_and_width=original,
                        postprocess=config.eval.postprocess,
                    )
                    t3 = time.perf_counter()
                    if mode == BEFORE:
                        write_like_before(path, answer, folder)
                    else:
                        write_mask_png(answer.mask, folder / f"{path.stem}_segmentation.png")
                        write_answer_overlay(path, answer, "caption", folder / f"{path.stem}.png")
                    t4 = time.perf_counter()
                    for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                        stages[stage] += seconds
            rows.append({"mode": mode, "round": round_, **{k: v / len(images) for k, v in stages.items()}})
    table = pd.DataFrame(rows).groupby("mode", sort=False).median(numeric_only=True).drop(columns="round")
    table["total"] = table.sum(axis=1)
    return table.loc[list(modes)]


def quality(config: RunConfig, data: Path, out: Path, settings: dict) -> pd.DataFrame:
    """Held-out mean Jaccard and melanoma AUC after the same short training in each mode."""
    root, kept, held = make_holdout_root(data, out / "split")
    print(f"quality: training on {kept} images, scoring {held} held-out images of {data.name}", flush=True)
    rows = []
    for mode, (precision, channels_last) in MODES.items():
        start = time.perf_counter()
        run = config.replace(
            root=str(root),
            val_split=None,
            eval_split="validation",
            precision=precision,
            channels_last=channels_last,
            name=mode,
            **settings,
        )
        shutil.rmtree(out / mode, ignore_errors=True)
        _, result = train_run(run, runs_dir=out, quiet=True)
        rows.append(
            {
                "mode": mode,
                "minutes": (time.perf_counter() - start) / 60,
                "jaccard": result.summary.jaccard,
                "thresholded_jaccard": result.summary.segmentation["thresholded_jaccard"],
                "melanoma_auc": result.summary.auc("melanoma"),
                "sk_auc": result.summary.auc("seborrheic_keratosis"),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    table = pd.DataFrame(rows).set_index("mode")
    for column in ("jaccard", "melanoma_auc"):
        table[f"{column} - fp32"] = table[column] - table.loc["fp32", column]
    return table


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", default="isic2017_cpu", help="recipe name or run config file (default isic2017_cpu)"
    )
    parser.add_argument(
        "--train-data", type=Path, default=SHARED / "isic2017-train-256sq", help="images for the training-step timing"
    )
    parser.add_argument(
        "--quality-data",
        type=Path,
        default=SHARED / "isic2017-train-384",
        help="train/held-out images for the quality check",
    )
    parser.add_argument(
        "--predict-data",
        type=Path,
        default=SHARED / "isic2017-sample",
        help="full-resolution images for the prediction timing",
    )
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_speed"))
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per mode and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the quality check's training")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 steps, 1 round, 4 images to predict, 48-image quality check at 128 px",
    )
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    has_weights = args.weights.is_file()
    config = RunConfig.from_file(resolve_recipe(args.config))
    if has_weights:
        use_weight_file(args.weights)
    else:
        print(f"No ImageNet file at {args.weights}: random weights (speed only, no quality check).")
        config = config.replace(backbone_weights=None, classifier="pooled")
    if args.quick:
        config = config.replace(image_size=128)
        args.steps, args.rounds = 2, 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, recipe {args.config}: "
        f"{config.model.backbone} + {config.model.classifier}, {config.data.image_size} px, batch {config.trainer.batch_size}",
        flush=True,
    )
    tables: dict[str, pd.DataFrame] = {}

    step = train_speed(config, args.train_data, args.steps, args.rounds)
    batch = config.trainer.batch_size
    train = pd.DataFrame({"s/step": step, "images/s": {m: batch / s for m, s in step.items()}})
    train["x fp32"] = train["images/s"] / train.loc["fp32", "images/s"]
    tables["train"] = train
    print("\nTraining steps (median over rounds):\n" + train.to_string(float_format=lambda v: f"{v:.3f}"), flush=True)

    images = sorted(p for p in args.predict_data.glob("ISIC-2017_*_Data/*.jpg") if not p.stem.endswith("_superpixels"))
    images = images[:4] if args.quick else images
    per_image = predict_speed(config, images, args.out / "predict", args.rounds)
    predict = per_image.copy()
    predict["images/s"] = 1 / predict["total"]
    predict["x before"] = predict["images/s"] / predict.loc[BEFORE, "images/s"]
    for stage in ("decode", "model", "upsample", "write"):
        predict[f"{stage} %"] = 100 * per_image[stage] / per_image["total"]
    tables["predict"] = predict
    print(
        f"\nPrediction on {len(images)} full-resolution images (seconds per image by stage):\n"
        + predict.to_string(float_format=lambda v: f"{v:.3f}"),
        flush=True,
    )

    if has_weights and not args.skip_quality:
        settings = {"epochs": args.epochs}
        if args.quick:
            settings.update(subset=48, warmup_steps=2)
        tables["quality"] = quality(config, args.quality_data, args.out / "quality", settings)
        print(
            "\nQuality after the same training (held-out real images):\n"
            + tables["quality"].to_string(float_format=lambda v: f"{v:.3f}"),
            flush=True,
        )
    for name, table in tables.items():
        table.to_csv(args.out / f"{name}.csv")
    return tables


if __name__ == "__main__":
    main()
