"""Frozen ImageNet features against a classifier fine-tuned whole, for melanoma and keratosis, on CV folds.

The images are the training part of ``benchmarks/bench_real.py``'s seeded, diagnosis-stratified
split of ``--data`` (1600 of the 2000 ISIC 2017 training thumbnails; its held-out 400 are never
read). ``--folds`` of five (fold 0 is the fold of ``cv_finetune_sources.py``) each score 320
images with a model that learnt from the other 1280, for:

* ``lesion_crop``: the head the CPU recipes ship (frozen ImageNet MobileNetV2 features of the
  lesion crop and the whole image, logistic regression fitted in closed form), fitted here on
  the ground-truth boxes of the 1280 images;
* ``trained``: :class:`isicseg.models.classifier.LesionClassifier` (the same two views,
  MobileNetV2 fine-tuned whole from ImageNet) trained by the :class:`isicseg.Trainer` with
  :class:`~isicseg.models.classifier.ClassifierTask` on a
  :class:`~isicseg.models.classifier.LesionCropDataset` (box jitter, margin, turns, colour
  jitter), AdamW, warmup and cosine, a class-weighted loss, for ``--epochs``; scored with
  one view and with the 8 dihedral views averaged.

Melanoma and keratosis AUC with stratified bootstrap 95% intervals, and the paired
difference against ``lesion_crop``; the table goes to ``--out``.

    python experiments/trained_classifier/cv_fold.py               # fold 0, ~20 minutes alone on 2 cores
    python experiments/trained_classifier/cv_fold.py --quick       # smoke run (200 images, 1 epoch)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import SHARED, print_and_save, use_weight_file  # noqa: E402

from isicseg import ISIC2017Dataset, Trainer, TrainerConfig  # noqa: E402
from isicseg.metrics import roc_auc  # noqa: E402
from isicseg.metrics.intervals import bootstrap_interval, compare_auc  # noqa: E402
from isicseg.models.classifier import (  # noqa: E402
    LesionClassifier,
    predict_proba,
)
from isicseg.models.classifier_training import ClassifierTask, LesionCropDataset  # noqa: E402
from isicseg.models.heads import HEADS  # noqa: E402

CLASSES = ("nevus", "seborrheic_keratosis", "melanoma")  # three_class's foreground labels 1, 2, 3, in order


def stratified_holdout(labels: pd.DataFrame, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """bench_real.py's split: ``fraction`` of each diagnosis held out, seeded (the same draws as benchmarks/_holdout)."""
    diagnosis = np.where(
        labels["melanoma"] == 1, "melanoma", np.where(labels["seborrheic_keratosis"] == 1, "sk", "nevus")
    )
    rng = np.random.default_rng(seed)
    held: list[str] = []
    for name in sorted(set(diagnosis)):
        ids = sorted(labels["image_id"][diagnosis == name])
        held += list(rng.choice(ids, size=round(len(ids) * fraction), replace=False))
    return sorted(set(labels["image_id"]) - set(held)), sorted(held)


class Cached(torch.utils.data.Dataset):
    """Items of ``dataset`` at ``indices``, each read once and kept (the thumbnails fit in memory)."""

    def __init__(self, dataset, indices) -> None:
        self.dataset, self.indices, self.items = dataset, list(indices), {}
        self.label_scheme = dataset.label_scheme

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> list[int]:
        every = self.dataset.labels
        return [every[i] for i in self.indices]

    def __getitem__(self, index: int):
        if index not in self.items:
            self.items[index] = self.dataset[self.indices[index]]
        return self.items[index]


def frozen_head(train: Cached, test: Cached, batch: int = 32) -> np.ndarray:
    """The shipped ``lesion_crop`` head fitted on ``train``'s ground-truth boxes; ``(n, 3)`` probabilities on ``test``."""
    head = HEADS.get("lesion_crop")(0, len(CLASSES) + 1)
    head.init_weights(download=False)
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]

    def run(data: Cached, fit: bool) -> torch.Tensor:
        head.train(fit)
        out = []
        for start in range(0, len(data), batch):
            items = [data[i] for i in range(start, min(len(data), start + batch))]
            images = torch.stack([(torch.as_tensor(image) - mean) / std for image, _ in items])
            boxes = [torch.as_tensor(t["boxes"])[0] for _, t in items]
            labels = torch.stack([torch.as_tensor(t["labels"])[0] - 1 for _, t in items])
            sizes = [tuple(images.shape[-2:])] * len(items)
            with torch.set_grad_enabled(fit):  # the head collects only in passes with gradients enabled
                logits = head({}, images=images, image_sizes=sizes, boxes=boxes, labels=labels if fit else None)
            out.append(logits.detach().softmax(dim=1))
        return torch.cat(out)

    run(train, fit=True)
    head.fit_collected()
    return run(test, fit=False).numpy()


def trained_classifier(train: Cached, test: Cached, args, out: Path) -> tuple[dict[str, np.ndarray], float]:
    """Fine-tune a LesionClassifier on ``train``; its probabilities on ``test`` with 1 and 8 views, and minutes."""
    torch.manual_seed(args.seed)
    classifier = LesionClassifier(len(CLASSES), backbone=args.backbone, weights="imagenet", download=False)
    weights = [1.0, args.sk_weight, args.mel_weight]
    task = ClassifierTask(classifier, class_weights=weights)
    config = TrainerConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adamw",
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=max(1, len(train) // args.batch_size),
        schedule="cosine",
        precision=args.precision,
        channels_last=args.channels_last,
        group_by_aspect_ratio=False,
        num_workers=0,
        device="cpu",
        seed=args.seed,
        out_dir=str(out),
    )
    start = time.perf_counter()
    Trainer(config).fit(task, LesionCropDataset(train, size=args.size, augment=True))
    minutes = (time.perf_counter() - start) / 60
    crops = LesionCropDataset(test, size=args.size)
    classifier.eval()
    results: dict[str, list[torch.Tensor]] = {"trained": [], "trained, 8 views": []}
    with torch.inference_mode():
        for begin in range(0, len(crops), 32):
            x = torch.stack([crops[i][0] for i in range(begin, min(len(crops), begin + 32))])
            results["trained"].append(predict_proba(classifier, x, views=1))
            results["trained, 8 views"].append(predict_proba(classifier, x, views=8))
    return {k: torch.cat(v).numpy() for k, v in results.items()}, minutes


def table(results: dict[str, np.ndarray], y: np.ndarray, fold: int, minutes: dict[str, float]) -> pd.DataFrame:
    rows = []
    for method, p in results.items():
        row = {"fold": fold, "method": method, "train min": minutes.get(method, float("nan"))}
        for short, label in (("mel", 2), ("sk", 1)):
            truth = (y == label).astype(int)
            interval = bootstrap_interval(roc_auc, truth, p[:, label])
            row[f"{short} AUC"] = interval.estimate
            row[f"{short} 95% CI"] = f"{interval.low:.3f}-{interval.high:.3f}"
            if method != "lesion_crop":
                paired = compare_auc(truth, results["lesion_crop"][:, label], p[:, label])
                row[f"{short} vs lesion_crop"] = f"{paired.difference:+.3f} ({paired.low:+.3f}, {paired.high:+.3f})"
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "isic2017-train-256sq")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--mel-weight", type=float, default=2.5)
    parser.add_argument("--sk-weight", type=float, default=1.5)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/experiments/trained_classifier"))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 1
    use_weight_file(args.weights)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    labels = pd.read_csv(args.data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    kept, _ = stratified_holdout(labels, 0.2, 0)
    if args.quick:
        _, kept = stratified_holdout(labels[labels["image_id"].isin(kept)].reset_index(drop=True), 200 / len(kept), 1)
    data = ISIC2017Dataset(args.data, "train", label_scheme="three_class", image_size=256)
    position = {image_id: i for i, image_id in enumerate(data.image_ids)}
    rows = [position[i] for i in kept]
    order = np.random.default_rng(0).permutation(len(rows))
    tables = []
    for fold in args.folds:
        held, learn = order[fold::5], np.setdiff1d(order, order[fold::5])
        train, test = Cached(data, [rows[i] for i in learn]), Cached(data, [rows[i] for i in held])
        y = np.array([label - 1 for label in test.labels])
        start = time.perf_counter()
        results = {"lesion_crop": frozen_head(train, test)}
        minutes = {"lesion_crop": (time.perf_counter() - start) / 60}
        trained, minutes["trained"] = trained_classifier(train, test, args, args.out / f"fold{fold}")
        results.update(trained)
        tables.append(table(results, y, fold, minutes))
        print_and_save(pd.concat(tables), args.out / "cv_fold")
    return pd.concat(tables)


if __name__ == "__main__":
    main()
