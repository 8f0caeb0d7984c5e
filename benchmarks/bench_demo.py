"""``isicseg demo`` end to end: wall time and scores, against isicseg 0.2.0's demo settings in the same run.

The demo runs as a newcomer runs it: ``isicseg demo --out DIR`` in a new process, into an
empty folder (synthetic data written, training from scratch, validation, final
evaluation with figures and submission files), timed whole by this script. Its scores are
read back from the run's ``evaluation/summary.json``.

The baseline is the demo of isicseg 0.2.0 (resnet18_fpn at 128 px, 64 RoIs per image,
160 synthetic training images of 192x256, 8 epochs, validated each epoch), which took 14.7-15.0 min on a quiet
2-core machine. Run whole it takes three times as long as the demo, so by default it is
run for one epoch (with its validation and final evaluation) by the same code, on the same
machine, in the same run, and its 8-epoch time is that run's time plus 7 more epochs
(each epoch's training and validation time, as measured in that epoch); ``--full-baseline``
runs all 8 epochs instead. Machines differ (and shared ones are noisy): compare the ratio,
not the minutes, with other machines.

    python benchmarks/bench_demo.py [--full-baseline] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE_RECIPE = {  # isicseg 0.2.0's configs/isic2017_demo.json, with its demo's command-line defaults
    "data": {
        "image_size": 128,
        "label_scheme": "binary",
        "val_split": "validation",
        "eval_split": "test",
        "augment": "train",
    },
    "model": {"backbone": "resnet18_fpn", "pretrained": "none", "proposals": "few"},
    "trainer": {
        "epochs": 8,
        "batch_size": 4,
        "optimizer": "adamw",
        "lr": 0.0005,
        "warmup_steps": 20,
        "schedule": "cosine",
        "grad_clip_norm": 10.0,
        "balanced_sampling": True,
        "seed": 0,
        "eval_batch_size": 8,
    },
    "eval": {"monitor": "val_jaccard"},
}
BASELINE_COUNTS = {"train": 160, "validation": 24, "test": 40}


def _isicseg(*args: str) -> float:
    """Run ``isicseg ARGS`` in a new process (as a user does); its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "isicseg.cli", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"isicseg {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def _scores(run_dir: Path) -> tuple[float, float]:
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    auc = summary["part3"]["melanoma"]["auc"]
    return summary["part1"]["jaccard"], float("nan") if auc is None else auc


def _epoch_seconds(run_dir: Path) -> list[float]:
    """Training plus validation time of each epoch, from the run's ``history.json``."""
    return [
        row["epoch_seconds"] + row.get("val_seconds", 0.0) for row in json.loads((run_dir / "history.json").read_text())
    ]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full-baseline", action="store_true", help="run the baseline's 8 epochs instead of estimating 7 of them"
    )
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 epoch of 8 images at 64 px for both (numbers meaningless)"
    )
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_demo-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"bench_demo: {os.cpu_count()} CPUs, runs in {out}", flush=True)
    quick = ["--epochs", "1", "--train-images", "8", "--image-size", "64"] if args.quick else []

    demo_seconds = _isicseg("demo", "--out", str(out / "demo"), *quick)
    demo_run = out / "demo" / "demo"
    jaccard, auc = _scores(demo_run)
    demo_config = json.loads((demo_run / "config.json").read_text())

    from isicseg import write_synthetic_isic

    data = out / "baseline-data"
    counts = {**BASELINE_COUNTS, "train": 8} if args.quick else BASELINE_COUNTS
    write_synthetic_isic(data, num_images=counts, image_size=(192, 256))  # as 0.2.0's demo wrote them (4:3)
    recipe = out / "baseline.json"
    epochs = BASELINE_RECIPE["trainer"]["epochs"]
    run_epochs = epochs if args.full_baseline else 1
    baseline = {**BASELINE_RECIPE, "trainer": {**BASELINE_RECIPE["trainer"], "epochs": run_epochs}}
    if args.quick:
        baseline["data"] = {**baseline["data"], "image_size": 64}
    recipe.write_text(json.dumps(baseline))
    base_seconds = _isicseg(
        "train", "--config", str(recipe), "--data", str(data), "--out", str(out), "--name", "baseline"
    )
    per_epoch = _epoch_seconds(out / "baseline")
    base_total = base_seconds + (epochs - run_epochs) * sum(per_epoch) / len(per_epoch)
    base_jaccard, base_auc = _scores(out / "baseline")

    model, trainer = demo_config["model"], demo_config["trainer"]
    print("\n| demo | settings | wall time | test mean Jaccard | melanoma AUC |\n| --- | --- | --- | --- | --- |")
    print(
        f"| isicseg demo (now) | {model['backbone']}, {demo_config['data']['image_size']} px, {model.get('rois_per_image') or 'few'} RoIs/image, "
        f"{trainer['epochs']} epochs | {demo_seconds / 60:.1f} min | {jaccard:.3f} | {auc:.3f} |"
    )
    how = (
        "measured"
        if args.full_baseline
        else f"1 epoch measured ({base_seconds / 60:.1f} min) + {epochs - 1} x {sum(per_epoch) / len(per_epoch):.0f} s"
    )
    scores = f"{base_jaccard:.3f} | {base_auc:.3f}" if args.full_baseline else "(1 epoch: not comparable) | -"
    print(
        f"| 0.2.0's demo settings (baseline) | resnet18_fpn, 128 px, 64 RoIs/image, 8 epochs | {base_total / 60:.1f} min ({how}) | {scores} |"
    )
    print(f"\nbaseline / demo wall time: {base_total / demo_seconds:.2f}x")
    return {
        "demo_seconds": demo_seconds,
        "jaccard": jaccard,
        "melanoma_auc": auc,
        "baseline_seconds": base_total,
        "ratio": base_total / demo_seconds,
    }


if __name__ == "__main__":
    main()
