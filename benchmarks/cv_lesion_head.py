"""Cross-validated variants of the ``lesion_crop`` head's features, on training images only.

Takes the training part of ``bench_real.py``'s seeded, stratified split of
``--data`` (1600 of the 2000 thumbnails; the 400 held-out images are never read), caches
the head's frozen ImageNet MobileNetV2 features of each image's ground-truth lesion box
(one view, no augmentation) and scores each variant by 5-fold cross-validation of the
head's own regression (:func:`~isicseg.models.heads.fit_logistic`, multinomial over
nevus / melanoma / keratosis), printing mean melanoma and keratosis AUC per variant:

* today's features (mean of four stages, crop + whole image), other penalties;
* plus each map's standard deviation; pooled inside / outside the lesion mask; the
  stride-4 block; hand-made ABCD-style cues of the mask and its colours;
* crop margins of 5% and 30%, alone and averaged with 15%;
* a two-layer perceptron instead of the regression;
* with ``--finetune``: MobileNetV2 fine-tuned end to end on lesion crops for one fold,
  against the frozen crop features on the same fold (about 20 minutes on 2 cores).

    python benchmarks/cv_lesion_head.py               # ~10 minutes on 2 cores
    python benchmarks/cv_lesion_head.py --finetune    # + the fine-tuning fold
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
from scipy import ndimage
from torchvision.ops import roi_align

sys.path.insert(0, str(Path(__file__).parent))
from _holdout import stratified_holdout  # noqa: E402
from _weights import use_weight_file  # noqa: E402

from isicseg.data.io import read_image, read_mask  # noqa: E402
from isicseg.metrics import roc_auc  # noqa: E402
from isicseg.models.heads import LesionCropClassifier, fit_logistic  # noqa: E402
from isicseg.models.lesion_crop import _STAGES, _dihedral  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
MEAN, STD = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
EARLY = 4  # the block that ends at stride 4 (24 channels)


def load_images(data: Path, ids: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ImageNet-normalised images, 0/1 masks and the masks' tight boxes."""
    images, masks, boxes = [], [], []
    for image_id in ids:
        image = (
            torch.from_numpy(read_image(data / "ISIC-2017_Training_Data" / f"{image_id}.jpg")).permute(2, 0, 1).float()
            / 255
        )
        mask = read_mask(
            data / "ISIC-2017_Training_Part1_GroundTruth" / f"{image_id}_segmentation.png", binarize=True
        ).astype(np.float32)
        ys, xs = np.nonzero(mask)
        images.append((image - MEAN) / STD)
        masks.append(torch.from_numpy(mask))
        boxes.append(torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32))
    return torch.stack(images), torch.stack(masks)[:, None], torch.stack(boxes)


@torch.no_grad()
def features(
    head: LesionCropClassifier, images: torch.Tensor, masks: torch.Tensor, boxes: torch.Tensor
) -> dict[str, np.ndarray]:
    """Per image and view (lesion crop, whole image): pooled stage maps, mean / std / in-mask / out-of-mask,
    plus the colour-corrected crop and its mask at 64 px for the hand-made cues."""
    out: dict[str, list] = {key: [] for key in ("mean", "std", "inside", "outside", "rgb", "mask")}
    for start in range(0, len(images), 16):
        x, m = images[start : start + 16], masks[start : start + 16]
        sizes = [tuple(x.shape[-2:])] * len(x)
        rows = head._boxes(sizes, list(boxes[start : start + 16]), x.device)
        views = head._shades_of_grey(roi_align(x, rows, head.crop_size, aligned=True, sampling_ratio=2))
        view_masks = roi_align(m, rows, head.crop_size, aligned=True, sampling_ratio=2)
        pooled: dict[str, list] = {key: [] for key in ("mean", "std", "inside", "outside")}
        h = views
        for index, block in enumerate(head.features, start=1):
            h = block(h)
            if index in _STAGES or index == EARLY:
                w = F.adaptive_avg_pool2d(view_masks, h.shape[-2:])
                pooled["mean"].append(h.mean((-2, -1)))
                pooled["std"].append(h.std((-2, -1)))
                pooled["inside"].append((h * w).sum((-2, -1)) / w.sum((-2, -1)).clamp(min=1e-3))
                pooled["outside"].append((h * (1 - w)).sum((-2, -1)) / (1 - w).sum((-2, -1)).clamp(min=1e-3))
        for key, parts in pooled.items():
            out[key].append(torch.cat(parts, 1).reshape(len(x), -1))
        out["rgb"].append(F.interpolate((views[0::2] * STD + MEAN).clamp(0, 1), size=64, mode="area"))
        out["mask"].append(F.interpolate(view_masks[0::2], size=64, mode="area"))
    return {key: torch.cat(value).numpy() for key, value in out.items()}


def abcd_cues(rgb: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Hand-made cues of each 64-px crop: size, border, asymmetry and colour (the dermatologists' ABCD)."""
    rows = []
    for image, mask in zip(rgb, masks[:, 0] > 0.5):
        ys, xs = np.nonzero(mask) if mask.any() else (np.array([32]), np.array([32]))
        eigen = (
            np.sort(np.linalg.eigvalsh(np.cov(np.stack([ys - ys.mean(), xs - xs.mean()]))))
            if len(ys) > 2
            else np.ones(2)
        )
        border = (mask & ~ndimage.binary_erosion(mask)).sum() + 1
        lr, ud = (mask ^ np.fliplr(mask)).sum() / (mask.sum() + 1), (mask ^ np.flipud(mask)).sum() / (mask.sum() + 1)
        pixels = image.reshape(3, -1).T
        inside = pixels[mask.ravel()] if mask.any() else pixels
        outside = pixels[~mask.ravel()] if (~mask).any() else pixels
        spread = np.quantile(inside, 0.9, axis=0) - np.quantile(inside, 0.1, axis=0)
        rows.append(
            [
                np.log(mask.mean() + 1e-3),
                border**2 / (4 * np.pi * mask.sum() + 1),
                eigen[0] / (eigen[1] + 1e-6),
                lr + ud,
                abs(lr - ud),
                *inside.mean(0),
                *inside.std(0),
                *(inside.mean(0) - outside.mean(0)),
                *spread,
                (inside.mean(1) < 0.25).mean(),
                (inside[:, 2] > inside[:, 0]).mean(),
            ]
        )
    return np.asarray(rows, dtype=np.float32)


def without_early(x: np.ndarray) -> np.ndarray:
    """Drop the stride-4 block's 24 values from each of the two views (today's head has four stages)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, 24:half], x[:, half + 24 :]], 1)


def regression(train: list[np.ndarray], y_train: np.ndarray, test: np.ndarray, l2: float) -> np.ndarray:
    x = torch.from_numpy(np.concatenate(train)).float()
    mean, scale = x.mean(0), x.std(0) + 1e-6
    weight, bias = fit_logistic(
        (x - mean) / scale, torch.from_numpy(np.concatenate([y_train] * len(train))), num_outputs=3, l2=l2
    )
    return (((torch.from_numpy(test).float() - mean) / scale) @ weight.T + bias).softmax(1).numpy()


def perceptron(
    train: list[np.ndarray], y_train: np.ndarray, test: np.ndarray, hidden: int = 128, epochs: int = 30
) -> np.ndarray:
    x = torch.from_numpy(np.concatenate(train)).float()
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x, y = (x - mean) / scale, torch.from_numpy(y_train).long()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Dropout(0.3),
        torch.nn.Linear(x.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(hidden, 3),
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.5)
    for _ in range(epochs):
        for batch in torch.randperm(len(y)).split(64):
            optimizer.zero_grad()
            F.cross_entropy(net(x[batch]), y[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        return net.eval()((torch.from_numpy(test).float() - mean) / scale).softmax(1).numpy()


def cross_validate(
    y: np.ndarray,
    train: list[np.ndarray],
    test: np.ndarray | None = None,
    *,
    fit=regression,
    l2: float = 1.0,
    folds: int = 5,
) -> tuple[float, float, float]:
    """Mean melanoma AUC, its standard error over folds, and mean keratosis AUC."""
    order = np.random.default_rng(0).permutation(len(y))
    test = train[0] if test is None else test
    melanoma, keratosis = [], []
    for k in range(folds):
        held = order[k::folds]
        kept = np.setdiff1d(order, held)
        p = (
            fit([t[kept] for t in train], y[kept], test[held], l2)
            if fit is regression
            else fit([t[kept] for t in train], y[kept], test[held])
        )
        melanoma.append(roc_auc(y[held] == 1, p[:, 1]))
        keratosis.append(roc_auc(y[held] == 2, p[:, 2]))
    return (
        float(np.nanmean(melanoma)),
        float(np.nanstd(melanoma) / np.sqrt(folds - 1)),
        float(np.nanmean(keratosis)),
    )  # nan: a fold without the class (smoke runs)


def finetune_fold(
    images: torch.Tensor, boxes: torch.Tensor, y: np.ndarray, frozen: np.ndarray, weights: Path, epochs: int = 4
) -> tuple[float, float]:
    """Fold 0: melanoma AUC of MobileNetV2 fine-tuned on lesion crops, and of the frozen crop features' regression."""
    from torchvision.models import mobilenet_v2
    from torchvision.ops import FrozenBatchNorm2d

    order = np.random.default_rng(0).permutation(len(y))
    held, kept = order[0::5], np.setdiff1d(order, order[0::5])
    head = LesionCropClassifier(0, 4)

    def crops(index: np.ndarray, train: bool) -> torch.Tensor:
        head.train(train)  # jitters the box in training
        x = images[index]
        views = head._shades_of_grey(
            roi_align(
                x,
                head._boxes([tuple(x.shape[-2:])] * len(x), list(boxes[index]), x.device),
                224,
                aligned=True,
                sampling_ratio=2,
            )
        )[0::2]
        if not train:
            return views
        brightness = 1 + (torch.rand(len(views), 1, 1, 1) - 0.5) * 0.2
        return (
            ((_dihedral(views, int(torch.randint(0, 8, ()))) * STD + MEAN) * brightness).clamp(0, 1).sub(MEAN).div(STD)
        )

    torch.manual_seed(0)
    net = mobilenet_v2(norm_layer=FrozenBatchNorm2d)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=False)
    body, linear = net.features, torch.nn.Linear(1280, 3)
    steps = epochs * (len(kept) // 32)
    optimizer = torch.optim.AdamW(
        [{"params": body.parameters(), "lr": 2e-4}, {"params": linear.parameters(), "lr": 1e-3}], weight_decay=1e-4
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[2e-4, 1e-3], total_steps=steps, pct_start=0.1)
    class_weight = torch.tensor(1.0 / np.bincount(y[kept]), dtype=torch.float32)
    for _ in range(epochs):
        for batch in torch.from_numpy(kept)[torch.randperm(len(kept))].split(32)[: len(kept) // 32]:
            loss = F.cross_entropy(
                linear(body(crops(batch.numpy(), True)).mean((-2, -1))),
                torch.from_numpy(y[batch.numpy()]).long(),
                weight=class_weight / class_weight.mean(),
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():
        body.eval()
        p = torch.cat(
            [
                sum(linear(body(_dihedral(crops(part, False), k)).mean((-2, -1))).softmax(1) for k in (0, 1)) / 2
                for part in np.array_split(held, 5)
            ]
        ).numpy()
    crop_only = frozen[:, : frozen.shape[1] // 2]
    return roc_auc(y[held] == 1, p[:, 1]), roc_auc(
        y[held] == 1, regression([crop_only[kept]], y[kept], crop_only[held], 1.0)[:, 1]
    )


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "isic2017-train-256sq")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    parser.add_argument("--limit", type=int, help="use a stratified N of the training images (smoke runs)")
    parser.add_argument(
        "--finetune", action="store_true", help="also fine-tune MobileNetV2 on one fold (~20 min on 2 cores)"
    )
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        raise SystemExit(f"ImageNet MobileNetV2 weights not found at {args.weights}; pass --weights FILE.")
    use_weight_file(args.weights)

    labels = pd.read_csv(args.data / "ISIC-2017_Training_Part3_GroundTruth.csv", dtype={"image_id": str})
    kept, _ = stratified_holdout(labels, 0.2, 0)  # bench_real's split: the held-out 20% is never read
    truth = labels.set_index("image_id").loc[kept]
    if args.limit:  # a stratified subset, so that every fold has each diagnosis
        _, kept = stratified_holdout(truth.reset_index(), args.limit / len(kept), 1)
        truth = truth.loc[kept]
    y = np.where(truth["melanoma"] == 1, 1, np.where(truth["seborrheic_keratosis"] == 1, 2, 0))
    start = time.perf_counter()
    images, masks, boxes = load_images(args.data, kept)
    cached = {}
    for margin in (0.05, 0.15, 0.3):
        head = LesionCropClassifier(0, 4, views=1, margin=margin)
        head.init_weights(download=False)
        cached[margin] = features(head.eval(), images, masks, boxes)
    print(f"{len(kept)} training images, features cached in {time.perf_counter() - start:.0f} s", flush=True)

    base = cached[0.15]
    today = without_early(base["mean"])
    margins = {m: without_early(cached[m]["mean"]) for m in cached}
    averaged = sum(margins.values()) / 3
    cues = abcd_cues(base["rgb"], base["mask"])
    variants: list[tuple[str, dict]] = [
        ("today's features (4 stages, crop + whole), L2 1", {"train": [today]}),
        *[(f"today's features, L2 {l2}", {"train": [today], "l2": l2}) for l2 in (0.3, 3.0, 10.0)],
        ("+ std of each map", {"train": [np.concatenate([today, without_early(base["std"])], 1)]}),
        ("+ pooled inside the mask", {"train": [np.concatenate([today, without_early(base["inside"])], 1)]}),
        (
            "+ inside and outside the mask",
            {"train": [np.concatenate([today, without_early(base["inside"]), without_early(base["outside"])], 1)]},
        ),
        ("+ stride-4 block", {"train": [base["mean"]]}),
        ("+ ABCD cues", {"train": [np.concatenate([today, cues], 1)]}),
        ("ABCD cues alone", {"train": [cues]}),
        ("margin 5%", {"train": [margins[0.05]]}),
        ("margin 30%", {"train": [margins[0.3]]}),
        ("train 15%, test mean of 5/15/30%", {"train": [today], "test": averaged}),
        ("train and test: mean of 5/15/30%", {"train": [averaged]}),
        ("two-layer perceptron", {"train": [today], "fit": perceptron}),
    ]
    print(f"{'variant (5-fold CV, training images only)':50s} {'mel AUC':>8s} {'± s.e.':>7s} {'SK AUC':>7s}")
    rows = []
    for name, spec in variants:
        melanoma, error, keratosis = cross_validate(
            y, spec["train"], spec.get("test"), fit=spec.get("fit", regression), l2=spec.get("l2", 1.0)
        )
        rows.append({"variant": name, "mel AUC": melanoma, "mel AUC s.e.": error, "SK AUC": keratosis})
        print(f"{name:50s} {melanoma:8.3f} {error:7.3f} {keratosis:7.3f}", flush=True)
    if args.finetune:
        tuned, frozen = finetune_fold(images, boxes, y, today, args.weights)
        print(
            f"fold 0 melanoma AUC: MobileNetV2 fine-tuned on crops {tuned:.3f}; frozen crop features + regression {frozen:.3f}"
        )
    return pd.DataFrame(rows).set_index("variant")


if __name__ == "__main__":
    main()
