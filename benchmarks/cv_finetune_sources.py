"""Does HAM10000 help the melanoma score? Frozen features against fine-tuning, on one fold of training images.

Takes fold 0 of five of the training part of ``bench_real.py``'s seeded, stratified split of
``--data`` (1280 images to learn from, 320 to score; the 400 held-out images are never
read) and HAM10000 (``--ham``, all 10015 images, its masks' boxes as the lesion box), and
scores melanoma and keratosis AUC on the 320 images for:

* ``frozen``: the ``lesion_crop`` head as the library ships it (frozen ImageNet MobileNetV2
  on the lesion crop and the whole image, eight eval views, logistic regression), fitted on
  the ISIC 2017 images, then on ISIC 2017 + HAM10000;
* ``fine-tuned``: MobileNetV2 fine-tuned end to end on lesion crops (``--size`` px, shades of
  grey, random turns, flips and brightness, class-balanced loss) of ISIC 2017 + HAM10000,
  ``--epochs`` epochs with each ISIC 2017 image drawn ``--isic-repeats`` times an epoch;
* the mean of the fine-tuned and the frozen (ISIC 2017) melanoma probabilities.

HAM10000 diagnoses: ``mel`` is melanoma, ``bkl`` keratosis, the rest benign (the ``binary``
map of :func:`isicseg.data.default_diagnosis_map` with ``bkl`` kept as keratosis).

    python benchmarks/cv_finetune_sources.py            # ~40 minutes on 2 cores
    python benchmarks/cv_finetune_sources.py --quick    # smoke run (200 + 400 images, 1 epoch)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torchvision.models import mobilenet_v2
from torchvision.ops import FrozenBatchNorm2d, roi_align

sys.path.insert(0, str(Path(__file__).parent))
from _holdout import stratified_holdout  # noqa: E402
from _weights import use_weight_file  # noqa: E402

from isicseg.data.io import read_image, read_mask  # noqa: E402
from isicseg.metrics import roc_auc  # noqa: E402
from isicseg.metrics.intervals import bootstrap_interval  # noqa: E402
from isicseg.models.heads import LesionCropClassifier, fit_logistic  # noqa: E402
from isicseg.models.lesion_crop import _dihedral  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
MEAN, STD = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
HAM_LABEL = {"mel": 1, "bkl": 2}  # the rest: 0 (benign)


def load(image: Path, mask: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet-normalised image and the tight box of its mask."""
    x = torch.from_numpy(read_image(image)).permute(2, 0, 1).float() / 255
    m = read_mask(mask, binarize=True)
    ys, xs = np.nonzero(m)
    box = (
        torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        if len(xs)
        else torch.tensor([0.0, 0, m.shape[1], m.shape[0]])
    )
    return (x - MEAN) / STD, box


def load_isic(data: Path, ids: list[str]) -> tuple[list[torch.Tensor], torch.Tensor]:
    pairs = [
        load(
            data / "ISIC-2017_Training_Data" / f"{i}.jpg",
            data / "ISIC-2017_Training_Part1_GroundTruth" / f"{i}_segmentation.png",
        )
        for i in ids
    ]
    return [p[0] for p in pairs], torch.stack([p[1] for p in pairs])


def load_ham(root: Path, limit: int | None) -> tuple[list[torch.Tensor], torch.Tensor, np.ndarray]:
    meta = pd.read_csv(root / "HAM10000_metadata.csv", dtype=str)
    if limit:
        meta = meta.sample(n=limit, random_state=0)
    files = {
        p.stem: p for part in ("HAM10000_images_part_1", "HAM10000_images_part_2") for p in (root / part).glob("*.jpg")
    }
    pairs = [
        load(files[i], root / "HAM10000_segmentations_lesion_tschandl" / f"{i}_segmentation.png")
        for i in meta["image_id"]
    ]
    return (
        [p[0] for p in pairs],
        torch.stack([p[1] for p in pairs]),
        np.array([HAM_LABEL.get(dx, 0) for dx in meta["dx"]]),
    )


@torch.no_grad()
def frozen_features(head: LesionCropClassifier, images: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
    """The head's pooled features, in batches of 32 images of one size."""
    rows: list[torch.Tensor | None] = [None] * len(images)
    by_size: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        by_size.setdefault(tuple(image.shape), []).append(index)
    for indices in by_size.values():
        for start in range(0, len(indices), 32):
            part = indices[start : start + 32]
            x = torch.stack([images[i] for i in part])
            embedded = head.embed(x, image_sizes=[tuple(x.shape[-2:])] * len(part), boxes=[boxes[i] for i in part])
            for i, row in zip(part, embedded):
                rows[i] = row
    return torch.stack(rows)


def frozen_probabilities(x_train: torch.Tensor, y_train: np.ndarray, x_test: torch.Tensor) -> np.ndarray:
    mean, scale = x_train.mean(0), x_train.std(0) + 1e-6
    weight, bias = fit_logistic((x_train - mean) / scale, torch.from_numpy(y_train), num_outputs=3, l2=1.0)
    return ((x_test - mean) / scale @ weight.T + bias).softmax(1).numpy()


def crops(
    head: LesionCropClassifier,
    images: list[torch.Tensor],
    boxes: torch.Tensor,
    index: np.ndarray,
    size: int,
    train: bool,
) -> torch.Tensor:
    """Lesion crops, colour-corrected (shades of grey), augmented in training."""
    head.train(train)  # jitters the box in training
    out = []
    for i in index:
        views = roi_align(
            images[i][None],
            head._boxes([tuple(images[i].shape[-2:])], [boxes[i]], images[i].device),
            size,
            aligned=True,
            sampling_ratio=2,
        )
        view = head._shades_of_grey(views)[0]
        if train:
            view = _dihedral(view, int(torch.randint(0, 8, ())))
            gain = 1 + (torch.rand(()) - 0.5) * 0.3
            view = ((view * STD + MEAN) * gain).clamp(0, 1).sub(MEAN).div(STD)
        out.append(view)
    return torch.stack(out)


def finetune(
    head, images, boxes, y, repeats: np.ndarray, size: int, epochs: int, weights: Path, log
) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    net = mobilenet_v2(norm_layer=FrozenBatchNorm2d)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
    body, linear = net.features, torch.nn.Linear(1280, 3)
    pool = np.concatenate([np.full(r, i) for i, r in enumerate(repeats)])
    per_epoch = len(pool) // 32
    optimizer = torch.optim.AdamW(
        [{"params": body.parameters(), "lr": 3e-4}, {"params": linear.parameters(), "lr": 1e-3}], weight_decay=1e-4
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[3e-4, 1e-3], total_steps=epochs * per_epoch, pct_start=0.1
    )
    counts = np.bincount(y[pool], minlength=3).astype(np.float32)
    class_weight = torch.from_numpy(counts.sum() / (3 * counts.clip(min=1)))
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        start, seen, total = time.perf_counter(), 0, 0.0
        body.train()
        for step, batch in enumerate(np.array_split(rng.permutation(pool), per_epoch)):
            loss = F.cross_entropy(
                linear(body(crops(head, images, boxes, batch, size, True)).mean((-2, -1))),
                torch.from_numpy(y[batch]).long(),
                weight=class_weight,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            seen, total = seen + len(batch), total + float(loss.detach()) * len(batch)
            if step % 50 == 0:
                log(
                    f"  epoch {epoch + 1} step {step}/{per_epoch} loss {total / seen:.3f} ({seen / (time.perf_counter() - start):.1f} img/s)"
                )
        log(f"epoch {epoch + 1}: loss {total / seen:.3f}, {time.perf_counter() - start:.0f} s")
    return body.eval(), linear


@torch.no_grad()
def finetuned_probabilities(head, body, linear, images, boxes, index: np.ndarray, size: int) -> np.ndarray:
    probabilities = []
    for part in np.array_split(index, max(1, len(index) // 32)):
        x = crops(head, images, boxes, part, size, False)
        probabilities.append(sum(linear(body(_dihedral(x, k)).mean((-2, -1))).softmax(1) for k in range(8)) / 8)
    return torch.cat(probabilities).numpy()


def start_log(weights: Path):
    """Point TORCH_HOME at a temporary copy of the ImageNet file (always: the script's own), and return a
    ``log(text)`` that prints the minutes since this call."""
    use_weight_file(weights)
    begin = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{(time.perf_counter() - begin) / 60:5.1f} min] {text}", flush=True)

    return log


def fold_zero(data: Path, quick: bool):
    """Fold 0 of five of the training part of bench_real.py's split of ``data`` (its held-out 20% is never read):
    every kept image and box, labels (0 benign, 1 melanoma, 2 keratosis), and the indices scored and learnt from."""
    labels = pd.read_csv(data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    kept, _ = stratified_holdout(labels, 0.2, 0)
    if quick:
        _, kept = stratified_holdout(labels[labels["image_id"].isin(kept)].reset_index(drop=True), 200 / len(kept), 1)
    truth = labels.set_index("image_id").loc[kept]
    y_isic = np.where(truth["melanoma"] == 1, 1, np.where(truth["seborrheic_keratosis"] == 1, 2, 0))
    order = np.random.default_rng(0).permutation(len(kept))
    held, learn = order[0::5], np.setdiff1d(order, order[0::5])  # fold 0, as cv_lesion_head.py's fine-tuning fold
    isic_images, isic_boxes = load_isic(data, kept)
    return isic_images, isic_boxes, y_isic, held, learn


def auc_table(results: dict[str, np.ndarray], y: np.ndarray, name: str) -> pd.DataFrame:
    """Melanoma and keratosis AUC with 95% bootstrap intervals of each method's ``(n, 3)`` probabilities."""
    rows = []
    for method, p in results.items():
        row = {name: method}
        for column, label in (("mel", 1), ("sk", 2)):
            interval = bootstrap_interval(roc_auc, (y == label).astype(int), p[:, label])
            row.update(
                {f"{column} AUC": interval.estimate, f"{column} 95% CI": f"{interval.low:.3f}-{interval.high:.3f}"}
            )
        rows.append(row)
    return pd.DataFrame(rows)


def fold_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a script that scores heads on :func:`fold_zero`: the two sets, the ImageNet file, ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=SHARED / "isic2017-train-256sq")
    parser.add_argument("--ham", type=Path, default=SHARED / "ham10000-200")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--quick", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = fold_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--isic-repeats", type=int, default=2)
    args = parser.parse_args(argv)
    log = start_log(args.weights)
    isic_images, isic_boxes, y_isic, held, learn = fold_zero(args.data, args.quick)
    ham_images, ham_boxes, y_ham = load_ham(args.ham, 400 if args.quick else None)
    log(
        f"ISIC 2017: {len(learn)} to learn from, {len(held)} scored ({int((y_isic[held] == 1).sum())} melanomas); HAM10000: {len(y_ham)} (mel {int((y_ham == 1).sum())}, bkl {int((y_ham == 2).sum())})"
    )

    head = LesionCropClassifier(0, 4)
    head.init_weights(download=False)
    head.eval()
    train_view = LesionCropClassifier(0, 4, views=1)
    train_view.load_state_dict(head.state_dict())
    train_view.eval()
    x_learn = frozen_features(train_view, [isic_images[i] for i in learn], isic_boxes[learn])
    x_held = frozen_features(head, [isic_images[i] for i in held], isic_boxes[held])
    log("frozen features of ISIC 2017 done")
    x_ham = frozen_features(train_view, ham_images, ham_boxes)
    log("frozen features of HAM10000 done")
    results: dict[str, np.ndarray] = {}
    results["frozen head, ISIC 2017"] = frozen_probabilities(x_learn, y_isic[learn], x_held)
    results["frozen head, ISIC 2017 + HAM10000"] = frozen_probabilities(
        torch.cat([x_learn, x_ham]), np.concatenate([y_isic[learn], y_ham]), x_held
    )

    images = [isic_images[i] for i in learn] + ham_images
    boxes = torch.cat([isic_boxes[learn], ham_boxes])
    y = np.concatenate([y_isic[learn], y_ham])
    repeats = np.concatenate([np.full(len(learn), args.isic_repeats), np.ones(len(y_ham), dtype=int)])
    body, linear = finetune(
        head, images, boxes, y, repeats, args.size, 1 if args.quick else args.epochs, args.weights, log
    )
    tuned = finetuned_probabilities(head, body, linear, isic_images, isic_boxes, held, args.size)
    results[f"fine-tuned {args.size} px, ISIC 2017 + HAM10000"] = tuned
    results["mean of fine-tuned and frozen (ISIC 2017)"] = (tuned + results["frozen head, ISIC 2017"]) / 2
    table = auc_table(results, y_isic[held], "method")
    log("done")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return table


if __name__ == "__main__":
    main()
