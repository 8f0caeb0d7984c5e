"""Real lesions: the CPU recipe against three baselines, trained and scored in one run.

Trains on ``--data`` (default ``../shared/isic2017-train-256sq``, all 2000 official ISIC
2017 training images as 256x256 thumbnails) and scores a seeded, diagnosis-stratified
held-out 20% of it that no method ever trains on, or ``--eval-data ROOT --eval-split
SPLIT`` when given. Methods:

* ``threshold``: Otsu threshold of the grey image, largest dark component, holes filled
  (classical, no learning; written here, not in the library); no melanoma score;
* ``linear probe``: ImageNet MobileNetV2 features (224 px, pooled) + logistic
  regression (its penalty chosen by 5-fold cross-validation on the training images), for
  the category scores only;
* ``resnet18_fpn scratch``: today's best CPU option before this recipe, from scratch
  with GroupNorm, the recipe's schedule and epochs, no classifier head;
* ``recipe``: ``configs/isic2017_cpu.json`` (what ``isicseg train --config`` runs),
  Mask R-CNN with the ``lesion_crop`` classifier head;
* ``linear_probe_ham``: the linear probe fitted on the training images and all of
  HAM10000 (``--ham``; ``mel`` is melanoma, ``bkl`` keratosis, the rest benign);
* ``recipe_ham``: ``configs/isic2017_ham10000_cpu.json`` (``--ham-config``) on the training
  images and HAM10000 as a second ``--data`` root: HAM10000's masks train the detector
  (a quarter of each epoch), the classifier head learns from ISIC 2017 alone.

Every score has its 95% interval (stratified bootstrap, 2000 resamples, seed 0), and when
both recipes' files are in ``--out`` (``recipe_ham`` run after ``recipe``), a paired comparison on the same held-out images says whether the second
is better (paired bootstrap of the AUC and mean-Jaccard differences).

**Aspect ratio kept, as users score.** The thumbnails are squashed to 256x256; users score
whole frames. The held-out images that are also in ``--aspect-data`` (default
``../shared/isic2017-train-384``, shorter side 384, aspect kept; 84 of the 400, 20 of them
melanomas) form a second held-out set, never trained on either (the same ids are out of the
thumbnails' training part). Each Mask R-CNN model is evaluated there too, read at its
training ``image_size`` (shorter side) and scored at 384 px, and on the 3 full-resolution
validation images of ``--sample`` as a smoke check; the second table counts the images under
Jaccard 0.5.

Every method writes ISIC submission files (``masks/``, ``classification.csv``) under
``--out``; the table is computed from those files by :func:`isicseg.evaluation.score_submission`,
so the official scorer can re-score them. Box IoU is that of the tight boxes of the
predicted and true masks.

    python benchmarks/bench_real.py                 # full run, ~1-1.5 h on 2 cores
    python benchmarks/bench_real.py --quick         # smoke run (60 images, 1 epoch at 128 px)

The ImageNet MobileNetV2 file is taken from ``--weights`` (default
``../shared/weights/mobilenet_v2-b0353104.pth``) and put in a temporary TORCH_HOME.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from _holdout import make_combined_root, make_holdout_root, make_subset_root  # noqa: E402
from _weights import use_weight_file  # noqa: E402

from isicseg import ISIC2017Dataset, load_model  # noqa: E402
from isicseg.config import RunConfig, resolve_recipe  # noqa: E402
from isicseg.data.io import read_image, read_mask  # noqa: E402
from isicseg.data.layout import read_ground_truth, split_paths  # noqa: E402
from isicseg.evaluation import evaluate, score_submission, write_mask_png  # noqa: E402
from isicseg.metrics import box_iou, roc_auc  # noqa: E402
from isicseg.metrics.intervals import bootstrap_interval, compare_auc, mean_interval  # noqa: E402
from isicseg.ops import masks_to_boxes  # noqa: E402
from isicseg.run import train_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CATEGORIES = ("melanoma", "seborrheic_keratosis")


# -- classical baseline --------------------------------------------------------------------


def otsu_threshold(grey: np.ndarray) -> float:
    """Otsu's threshold of a uint8 image (maximises the between-class variance)."""
    hist = np.bincount(grey.ravel(), minlength=256).astype(float)
    p = hist / hist.sum()
    omega, mu = np.cumsum(p), np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(np.nanargmax(between))


def threshold_mask(rgb: np.ndarray) -> np.ndarray:
    """Dark pixels by Otsu, largest component, holes filled."""
    grey = (rgb.astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    dark = grey <= otsu_threshold(grey)
    labels, count = ndimage.label(dark)
    if count == 0:
        return dark
    sizes = ndimage.sum(dark, labels, index=range(1, count + 1))
    return ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))


def run_threshold(root: Path, split: str, out: Path) -> float:
    start = time.perf_counter()
    paths = split_paths(root, split)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    ids = list(read_ground_truth(paths.csv))
    for image_id in ids:
        write_mask_png(
            threshold_mask(read_image(paths.images / f"{image_id}.jpg")), out / "masks" / f"{image_id}_segmentation.png"
        )
    pd.DataFrame({"image_id": ids, **{c: 0.0 for c in CATEGORIES}}).to_csv(out / "classification.csv", index=False)
    return (time.perf_counter() - start) / 60


# -- linear probe --------------------------------------------------------------------------


@torch.inference_mode()
def imagenet_features(root: Path, split: str, weights: Path) -> tuple[list[str], np.ndarray, dict[str, str]]:
    from torchvision.models import mobilenet_v2

    net = mobilenet_v2()
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    paths = split_paths(root, split)
    truth = read_ground_truth(paths.csv)
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    ids, feats = list(truth), []
    for start in range(0, len(ids), 32):
        batch = [
            torch.from_numpy(read_image(paths.images / f"{i}.jpg", (224, 224))).permute(2, 0, 1).float() / 255
            for i in ids[start : start + 32]
        ]
        x = (torch.stack(batch) - mean) / std
        feats.append(net.features(x).mean(dim=(-2, -1)))
    return ids, torch.cat(feats).numpy(), truth


def logistic_regression(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression on standardised features, fitted by L-BFGS."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt, yt = torch.from_numpy((x - mean) / std).float(), torch.from_numpy(y).float()
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w * w).sum() / 2
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy() / std, mean, float(b.detach())


PROBE_L2 = (0.01, 0.1, 1.0, 10.0)


def choose_l2(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """The penalty of :data:`PROBE_L2` with the best mean AUC in ``folds``-fold cross-validation (training images only)."""
    order = np.random.default_rng(seed).permutation(len(y))

    def fold_auc(l2: float) -> float:
        aucs = []
        for k in range(folds):
            held, kept = order[k::folds], np.setdiff1d(order, order[k::folds])
            w, mean, b = logistic_regression(x[kept], y[kept], l2)
            aucs.append(roc_auc(y[held], (x[held] - mean) @ w + b))
        return float(np.mean(aucs))

    return max(PROBE_L2, key=fold_auc)


@torch.inference_mode()
def ham_features(ham: Path, weights: Path, limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """ImageNet MobileNetV2 features of every HAM10000 image, and its diagnosis (``mel`` melanoma, ``bkl`` keratosis, the rest nevus)."""
    from torchvision.models import mobilenet_v2

    net = mobilenet_v2()
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    meta = pd.read_csv(ham / "HAM10000_metadata.csv", dtype=str)
    if limit is not None:
        meta = meta.sample(n=min(limit, len(meta)), random_state=0)
    files = {
        p.stem: p for part in ("HAM10000_images_part_1", "HAM10000_images_part_2") for p in (ham / part).glob("*.jpg")
    }
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    feats = []
    for start in range(0, len(meta), 32):
        batch = [
            torch.from_numpy(read_image(files[i], (224, 224))).permute(2, 0, 1).float() / 255
            for i in meta["image_id"][start : start + 32]
        ]
        feats.append(net.features((torch.stack(batch) - mean) / std).mean(dim=(-2, -1)))
    names = {"mel": "melanoma", "bkl": "seborrheic_keratosis"}
    return torch.cat(feats).numpy(), [names.get(dx, "nevus") for dx in meta["dx"]]


def run_linear_probe(
    train_root: Path,
    train_split: str,
    root: Path,
    split: str,
    out: Path,
    weights: Path,
    ham: Path | None = None,
    ham_limit: int | None = None,
) -> float:
    start = time.perf_counter()
    _, x_train, truth_train = imagenet_features(train_root, train_split, weights)
    diagnoses = [truth_train[i] for i in truth_train]
    if ham is not None:
        x_ham, ham_diagnoses = ham_features(ham, weights, ham_limit)
        x_train, diagnoses = np.concatenate([x_train, x_ham]), diagnoses + ham_diagnoses
    ids, x_test, _ = imagenet_features(root, split, weights)
    columns = {}
    for category in CATEGORIES:
        y = np.array([d == category for d in diagnoses], dtype=float)
        if 0 < y.sum() < len(y):
            l2 = choose_l2(x_train, y) if min(y.sum(), len(y) - y.sum()) >= 5 else 1.0
            print(f"linear probe, {category}: l2={l2} (5-fold cross-validation on the training images)", flush=True)
            w, mean, b = logistic_regression(x_train, y, l2)
            columns[category] = 1 / (1 + np.exp(-((x_test - mean) @ w + b)))
        else:
            columns[category] = np.zeros(len(ids))
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image_id": ids, **columns}).to_csv(out / "classification.csv", index=False)
    return (time.perf_counter() - start) / 60


# -- Mask R-CNN runs -----------------------------------------------------------------------


def run_training(config: RunConfig, settings: dict, out: Path) -> tuple[float, Path]:
    """Train with ``isicseg train``'s own code and evaluate on the held-out split; training minutes and the run folder."""
    run_dir, _ = train_run(config.replace(**settings), runs_dir=out.parent, quiet=True)
    evaluation = run_dir / "evaluation"
    for item in ("masks", "classification.csv"):
        target = out / item
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.move(str(evaluation / item), target)
    history = json.loads((run_dir / "history.json").read_text())
    return sum(row["epoch_seconds"] for row in history) / 60, run_dir


def evaluate_elsewhere(run_dir: Path, config: RunConfig, root: Path, split: str, out: Path) -> pd.DataFrame:
    """Evaluate the run's model on another root as the run's final evaluation does (its image size, TTA and clean-up)."""
    model = load_model(
        run_dir / ("best.pt" if (run_dir / "best.pt").exists() else "last.pt")
    )  # the checkpoint train_run evaluated
    dataset = ISIC2017Dataset(root, split, label_scheme=config.data.label_scheme, image_size=config.data.image_size)
    result = evaluate(model, dataset, config=config.inference, out_dir=out, overwrite=True, figures=False)
    return result.per_image


# -- scoring -------------------------------------------------------------------------------


def mean_box_iou(masks_dir: Path, root: Path, split: str) -> float:
    paths = split_paths(root, split)
    values = []
    for image_id in read_ground_truth(paths.csv):
        truth = read_mask(paths.mask_of(image_id), binarize=True).astype(bool)
        pred = read_mask(
            masks_dir / f"{image_id}_segmentation.png", expected_height_and_width=truth.shape, binarize=True
        ).astype(bool)
        if not pred.any():
            values.append(0.0)
            continue
        boxes = masks_to_boxes(torch.from_numpy(np.stack([pred, truth])))
        values.append(float(box_iou([boxes[0].tolist()], [boxes[1].tolist()])))
    return float(np.mean(values))


def score(
    method: str, minutes: float, folder: Path, root: Path, split: str, *, segments: bool, classifies: bool
) -> dict:
    row = {"method": method, "train min": minutes}
    csv = folder / "classification.csv"
    if segments:
        summary = score_submission(
            folder / "masks",
            csv if classifies else None,
            data_root=root,
            split=split,
            categories=CATEGORIES if classifies else (),
            intervals=True,
        )
        row.update(
            jaccard=summary.jaccard,
            **{"jaccard 95% CI": span(summary.intervals["jaccard"])},
            thresholded_jaccard=summary.segmentation["thresholded_jaccard"],
            dice=summary.segmentation["dice"],
            box_iou=mean_box_iou(folder / "masks", root, split),
        )
    if classifies:
        from isicseg.metrics import binary_classification_scores

        truth = read_ground_truth(split_paths(root, split).csv)
        probabilities = pd.read_csv(csv, dtype={"image_id": str}).set_index("image_id")
        for category, short in (("melanoma", "mel"), ("seborrheic_keratosis", "sk")):
            y = np.array([truth[i] == category for i in truth], dtype=int)
            if 0 < y.sum() < len(y):
                p = probabilities.loc[list(truth), category].to_numpy(float)
                scores = binary_classification_scores(y, p)
                row[f"{short} AUC"], row[f"{short} AP"] = scores["auc"], scores["average_precision"]
                row[f"{short} AUC 95% CI"] = span(bootstrap_interval(roc_auc, y, p)[1:])
    return row


def span(interval: tuple[float, float]) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}"


def per_image_jaccard(masks_dir: Path, root: Path, split: str) -> pd.Series:
    paths = split_paths(root, split)
    values = {}
    for image_id in read_ground_truth(paths.csv):
        truth = read_mask(paths.mask_of(image_id), binarize=True).astype(bool)
        pred = read_mask(masks_dir / f"{image_id}_segmentation.png", binarize=True).astype(bool)
        union = np.logical_or(truth, pred).sum()
        values[image_id] = np.logical_and(truth, pred).sum() / union if union else 1.0
    return pd.Series(values)


def compare(a: Path, b: Path, root: Path, split: str) -> dict:
    """Is the run in folder ``b`` better than the one in ``a`` on the same images? Paired bootstrap."""
    truth = read_ground_truth(split_paths(root, split).csv)
    ids = list(truth)
    row = {}
    difference = per_image_jaccard(b / "masks", root, split) - per_image_jaccard(a / "masks", root, split)
    paired = mean_interval(difference.loc[ids].to_numpy(float))
    row["jaccard difference"] = f"{paired.estimate:+.3f} [{paired.low:+.3f}, {paired.high:+.3f}]"
    pa = pd.read_csv(a / "classification.csv", dtype={"image_id": str}).set_index("image_id")
    pb = pd.read_csv(b / "classification.csv", dtype={"image_id": str}).set_index("image_id")
    for category, short in (("melanoma", "mel"), ("seborrheic_keratosis", "sk")):
        y = np.array([truth[i] == category for i in ids], dtype=int)
        if y.all() or not y.any():  # an AUC needs both classes: say so rather than print nan
            row[f"{short} AUC difference"] = f"undefined ({int(y.sum())} of {len(y)} images are {category})"
            continue
        result = compare_auc(y, pa.loc[ids, category].to_numpy(float), pb.loc[ids, category].to_numpy(float))
        row[f"{short} AUC difference"] = (
            f"{result.difference:+.3f} [{result.low:+.3f}, {result.high:+.3f}], p={result.p_value:.2f}"
        )
    return row


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "isic2017-train-256sq")
    parser.add_argument(
        "--eval-data", type=Path, help="score this root's --eval-split instead of a held-out 20%% of --data"
    )
    parser.add_argument("--eval-split", default="validation")
    parser.add_argument(
        "--config", default="isic2017_cpu", help="recipe name or run config file (default isic2017_cpu)"
    )
    parser.add_argument(
        "--ham-config",
        default="isic2017_ham10000_cpu",
        help="recipe of recipe_ham, trained with --ham as a second data root (default isic2017_ham10000_cpu)",
    )
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument(
        "--ham",
        type=Path,
        default=SHARED / "ham10000-200",
        help="HAM10000 root (Dataverse layout) for linear_probe_ham and recipe_ham",
    )
    parser.add_argument(
        "--aspect-data",
        type=Path,
        default=SHARED / "isic2017-train-384",
        help="aspect-kept copies of training images (see above)",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        default=SHARED / "isic2017-sample",
        help="full-resolution smoke set (its validation split)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_real"))
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["threshold", "linear_probe", "linear_probe_ham", "resnet18_scratch", "recipe", "recipe_ham"],
    )
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (both Mask R-CNN runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 60 of the images (48 train, 12 held out), 1 epoch at 128 px, 400 HAM10000 images",
    )
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        raise SystemExit(f"ImageNet MobileNetV2 weights not found at {args.weights}; pass --weights FILE.")
    args.out.mkdir(parents=True, exist_ok=True)
    use_weight_file(args.weights)

    if args.eval_data is None:
        root, kept, held = make_holdout_root(
            args.data, args.out / "split", seed=args.seed, limit=60 if args.quick else None
        )
        print(
            f"Held-out split of {args.data}: train {kept}, held out {held} (stratified by diagnosis, seed {args.seed})"
        )
    else:
        root = make_combined_root(args.data, args.eval_data, args.eval_split, args.out / "split")
        print(f"Training on {args.data}, scoring {args.eval_data} ({args.eval_split})")
    train_root, train_split, eval_root, eval_split = root, "train", root, "validation"
    held_ids = list(read_ground_truth(split_paths(eval_root, eval_split).csv))
    aspect_root, aspect_count = (
        make_subset_root(args.aspect_data, held_ids, args.out / "aspect_split")
        if args.aspect_data.is_dir() and args.eval_data is None
        else (None, 0)
    )
    if aspect_root is not None:
        print(f"Aspect-kept held-out set: {aspect_count} of the held-out images, from {args.aspect_data}")
    config_path, ham_config_path = resolve_recipe(args.config), resolve_recipe(args.ham_config)
    config, ham_config = RunConfig.from_file(config_path), RunConfig.from_file(ham_config_path)
    # train on the kept images; no validation split, so no model selection on held-out images
    run: dict = {"root": str(train_root), "val_split": None, "eval_split": eval_split}
    if args.epochs:
        run["epochs"] = args.epochs
    if args.quick:
        run.update(epochs=1, warmup_steps=2, image_size=128)
    scratch = {"backbone": "resnet18_fpn", "pretrained": "none", "backbone_weights": None, "classifier": None}

    rows, aspect_rows = [], []

    def elsewhere(name: str, run_dir: Path, run_config: RunConfig) -> None:
        """The aspect-kept and full-resolution rows of one trained model."""
        for label, other_root, other_split, count in (
            ("aspect-kept 384", aspect_root, "validation", aspect_count),
            ("full resolution", args.sample, "validation", 3),
        ):
            if other_root is None or count == 0 or not other_root.is_dir():
                continue
            folder = args.out / f"{run_dir.name}_{label.split()[0]}"
            per_image = evaluate_elsewhere(run_dir, run_config, other_root, other_split, folder)
            row = score(name, 0.0, folder, other_root, other_split, segments=True, classifies=True)
            row.pop("train min")
            row = {
                "set": f"{label} ({len(per_image)} images)",
                **row,
                "under 0.5": int((per_image["jaccard"] < 0.5).sum()),
            }
            aspect_rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)

    for method in args.methods:
        folder = args.out / method
        shutil.rmtree(folder, ignore_errors=True)
        print(f"== {method}", flush=True)
        if method == "threshold":
            rows.append(
                score(
                    "threshold (Otsu)",
                    run_threshold(eval_root, eval_split, folder),
                    folder,
                    eval_root,
                    eval_split,
                    segments=True,
                    classifies=False,
                )
            )
        elif method == "linear_probe":
            minutes = run_linear_probe(train_root, train_split, eval_root, eval_split, folder, args.weights)
            rows.append(
                score(
                    "linear probe (MobileNetV2)",
                    minutes,
                    folder,
                    eval_root,
                    eval_split,
                    segments=False,
                    classifies=True,
                )
            )
        elif method == "linear_probe_ham":
            minutes = run_linear_probe(
                train_root,
                train_split,
                eval_root,
                eval_split,
                folder,
                args.weights,
                ham=args.ham,
                ham_limit=400 if args.quick else None,
            )
            rows.append(
                score(
                    "linear probe + HAM10000", minutes, folder, eval_root, eval_split, segments=False, classifies=True
                )
            )
        elif method in ("resnet18_scratch", "recipe", "recipe_ham"):
            settings = {**run, **(scratch if method == "resnet18_scratch" else {}), "name": method}
            base, base_path = (ham_config, ham_config_path) if method == "recipe_ham" else (config, config_path)
            if method == "recipe_ham":
                settings["extra_roots"] = (str(args.ham),)
                if args.quick:
                    settings["epoch_items"] = 48
            name = "resnet18_fpn scratch" if method == "resnet18_scratch" else f"recipe ({base_path.name})"
            minutes, run_dir = run_training(base, settings, folder)
            rows.append(score(name, minutes, folder, eval_root, eval_split, segments=True, classifies=True))
            elsewhere(name, run_dir, base.replace(**settings))
        else:
            raise SystemExit(
                f"Unknown method {method!r}; choose from threshold, linear_probe, linear_probe_ham, resnet18_scratch, "
                "recipe, recipe_ham."
            )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    table = pd.DataFrame(rows)
    print(f"\nHeld-out real ISIC 2017 images: {eval_root} ({eval_split})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    table.to_csv(args.out / "table.csv", index=False)
    if aspect_rows:
        aspect = pd.DataFrame(aspect_rows)
        print(
            "\nThe same models, scored where users score (aspect ratio kept; the full-resolution row is a 3-image smoke check):"
        )
        print(aspect.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        aspect.to_csv(args.out / "aspect_table.csv", index=False)
    if "recipe_ham" in args.methods and (args.out / "recipe" / "classification.csv").is_file():
        if "recipe" not in args.methods:
            print(f"\n(recipe's files are from an earlier run in {args.out}, on the same seeded split)")
        sets = [("held-out", args.out, eval_root, eval_split)]
        if aspect_root is not None and aspect_count:
            sets.append(("aspect-kept 384", args.out, aspect_root, "validation"))
        paired = []
        for label, out, other_root, other_split in sets:
            a, b = (
                (out / "recipe", out / "recipe_ham")
                if label == "held-out"
                else (out / "recipe_aspect-kept", out / "recipe_ham_aspect-kept")
            )
            paired.append({"set": label, "B - A": "recipe_ham - recipe", **compare(a, b, other_root, other_split)})
        comparison = pd.DataFrame(paired)
        print("\nIs the HAM10000 recipe better? Paired on the same images (difference, 95% interval, p):")
        print(comparison.to_string(index=False))
        comparison.to_csv(args.out / "comparison.csv", index=False)
    return table


if __name__ == "__main__":
    main()
