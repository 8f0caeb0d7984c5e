"""Frozen against fine-tuned ``lesion_crop`` heads, trained as a CPU recipe trains them, on one fold of training images.

Takes fold 0 of five of the training part of ``bench_real.py``'s seeded, stratified split
of ``--data`` (1280 images to learn from, 320 to score; the 400 held-out images are never
read; the fold of ``cv_finetune_sources.py``) and HAM10000 (``--ham``; ``mel`` melanoma,
``bkl`` keratosis, the rest benign; its masks' boxes as lesion boxes), and scores melanoma
and keratosis AUC on the 320 images, with 95% intervals, for:

* ``lesion_crop`` (frozen ImageNet MobileNetV2, logistic regression fitted in closed form
  on the ISIC 2017 images), as the CPU recipes ship it;
* ``lesion_crop_tuned`` (its last blocks fine-tuned with a linear layer), trained the way
  ``isicseg train`` trains a head: the library's head class, called as the detector calls it
  (batches of ``--batch-size`` images at shorter side 256, ground-truth boxes, which the head
  jitters), AdamW and the warmup-cosine schedule of the CPU recipes (``--lr``), for the
  recipes' budget of ``--samples`` labelled lesions; once on ISIC 2017 alone, once with
  HAM10000 drawn at ``--ham-share`` of each batch (the recipe ``isic2017_ham10000_cpu``'s
  share), and once with a longer budget;
* each tuned head's features with the closed-form regression of ``lesion_crop`` refitted on
  the ISIC 2017 images (fine-tune the features on every source, fit the answer on the
  target one), alone and beside the frozen features.

    python benchmarks/cv_tuned_head.py            # ~25 minutes on 2 quiet cores
    python benchmarks/cv_tuned_head.py --quick    # smoke run (200 + 100 images, 10 steps a head)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from cv_finetune_sources import (  # noqa: E402
    auc_table,
    fold_parser,
    fold_zero,
    frozen_probabilities,
    load_ham,
    start_log,
)

from isicseg.engine import TrainerConfig  # noqa: E402
from isicseg.engine.schedule import build_scheduler  # noqa: E402
from isicseg.models.heads import HEADS, LesionCropClassifier  # noqa: E402


def batch_tensor(images: list[torch.Tensor], boxes: torch.Tensor, side: int = 256):
    """Images resized to shorter side ``side`` and padded into one tensor, as the detector's
    transform hands them to the head, with their sizes and scaled boxes."""
    resized, sizes, scaled = [], [], []
    for image, box in zip(images, boxes):
        h, w = image.shape[-2:]
        scale = side / min(h, w)
        nh, nw = round(h * scale), round(w * scale)
        resized.append(F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False)[0])
        sizes.append((nh, nw))
        scaled.append(box * torch.tensor([nw / w, nh / h, nw / w, nh / h]))
    height, width = max(s[0] for s in sizes), max(s[1] for s in sizes)
    batch = torch.zeros(len(images), 3, height, width)
    for i, image in enumerate(resized):
        batch[i, :, : image.shape[1], : image.shape[2]] = image
    return batch, sizes, scaled


def train_tuned(
    state: dict,
    images: list[torch.Tensor],
    boxes: torch.Tensor,
    y: np.ndarray,
    is_ham: np.ndarray,
    args,
    steps: int,
    ham_share: float,
    log,
) -> LesionCropClassifier:
    """A ``lesion_crop_tuned`` head trained on ``steps`` batches drawn with ``ham_share`` of HAM10000 images."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    head = HEADS.get("lesion_crop_tuned")(0, 4)
    head.load_state_dict(state, strict=False)  # the ImageNet features; the linear layer starts at zero
    head.train()
    config = TrainerConfig(optimizer="adamw", lr=args.lr, warmup_steps=50, schedule="cosine", epochs=1)
    params = [p for p in head.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, config, steps)
    isic, ham = np.flatnonzero(~is_ham), np.flatnonzero(is_ham)
    start, total = time.perf_counter(), 0.0
    for step in range(steps):
        from_ham = rng.random(args.batch_size) < ham_share if len(ham) else np.zeros(args.batch_size, bool)
        index = np.where(
            from_ham, rng.choice(ham, args.batch_size) if len(ham) else 0, rng.choice(isic, args.batch_size)
        )
        batch, sizes, scaled = batch_tensor([images[i] for i in index], boxes[index])
        labels = torch.from_numpy(y[index]).long()
        logits = head({}, images=batch, image_sizes=sizes, boxes=scaled, labels=labels)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach())
        if (step + 1) % 200 == 0 or step + 1 == steps:
            rate = (step + 1) * args.batch_size / (time.perf_counter() - start)
            log(f"  step {step + 1}/{steps}: mean loss {total / (step + 1):.3f}, {rate:.1f} images/s")
    return head.eval()


@torch.no_grad()
def head_probabilities(head: LesionCropClassifier, images: list[torch.Tensor], boxes: torch.Tensor) -> np.ndarray:
    """The head's own class probabilities (background excluded), 8 eval views."""
    rows = []
    for part in np.array_split(np.arange(len(images)), max(1, len(images) // 16)):
        batch, sizes, scaled = batch_tensor([images[i] for i in part], boxes[part])
        rows.append(head({}, images=batch, image_sizes=sizes, boxes=scaled).softmax(1))
    return torch.cat(rows).numpy()


@torch.no_grad()
def head_features(head: LesionCropClassifier, images: list[torch.Tensor], boxes: torch.Tensor, views: int):
    """The head's pooled features over ``views`` dihedral views (at shorter side 256, as the head sees them)."""
    shipped, head.views = head.views, views
    rows = []
    try:
        for part in np.array_split(np.arange(len(images)), max(1, len(images) // 16)):
            batch, sizes, scaled = batch_tensor([images[i] for i in part], boxes[part])
            rows.append(head.embed(batch, image_sizes=sizes, boxes=scaled))
    finally:
        head.views = shipped
    return torch.cat(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = fold_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4, help="images a step (the CPU recipes' batch)")
    parser.add_argument("--lr", type=float, default=2e-4, help="AdamW learning rate (the CPU recipes')")
    parser.add_argument(
        "--samples",
        type=int,
        default=4800,
        help="labelled lesions seen (3 epochs of 1600, as the CPU recipes trained when this was measured)",
    )
    parser.add_argument("--ham-share", type=float, default=0.25)
    args = parser.parse_args(argv)
    log = start_log(args.weights)
    isic_images, isic_boxes, y_isic, held, learn = fold_zero(args.data, args.quick)
    ham_images, ham_boxes, y_ham = load_ham(args.ham, 100 if args.quick else None)
    log(f"ISIC 2017: {len(learn)} to learn from, {len(held)} scored; HAM10000: {len(y_ham)}")
    steps = (40 if args.quick else args.samples) // args.batch_size

    frozen = LesionCropClassifier(0, 4)
    frozen.init_weights(download=False)
    frozen.eval()
    state = frozen.state_dict()
    learn_images, learn_boxes = [isic_images[i] for i in learn], isic_boxes[learn]
    held_images, held_boxes = [isic_images[i] for i in held], isic_boxes[held]
    x_learn = head_features(frozen, learn_images, learn_boxes, views=1)
    x_held = head_features(frozen, held_images, held_boxes, views=8)
    results: dict[str, np.ndarray] = {
        "lesion_crop (frozen), ISIC 2017": frozen_probabilities(x_learn, y_isic[learn], x_held)
    }
    log("frozen head done")

    images = learn_images + ham_images
    boxes = torch.cat([learn_boxes, ham_boxes])
    y = np.concatenate([y_isic[learn], y_ham])
    is_ham = np.concatenate([np.zeros(len(learn), bool), np.ones(len(y_ham), bool)])
    runs = [
        ("ISIC 2017", steps, 0.0),
        (f"ISIC 2017 + HAM10000 ({args.ham_share:.2f} of each batch)", steps, args.ham_share),
        (f"ISIC 2017 + HAM10000 ({0.5:.2f} of each batch), twice the samples", 2 * steps, 0.5),
    ]
    for name, n_steps, share in runs:
        log(f"lesion_crop_tuned on {name}: {n_steps} steps of {args.batch_size}")
        head = train_tuned(state, images, boxes, y, is_ham, args, n_steps, share, log)
        results[f"lesion_crop_tuned, {name}"] = head_probabilities(head, held_images, held_boxes)
        x_tuned_learn = head_features(head, learn_images, learn_boxes, views=1)
        x_tuned_held = head_features(head, held_images, held_boxes, views=8)
        results[f"lesion_crop_tuned, {name}; its features + regression on ISIC 2017"] = frozen_probabilities(
            x_tuned_learn, y_isic[learn], x_tuned_held
        )
        results[f"lesion_crop_tuned, {name}; frozen and tuned features + regression on ISIC 2017"] = (
            frozen_probabilities(
                torch.cat([x_learn, x_tuned_learn], 1), y_isic[learn], torch.cat([x_held, x_tuned_held], 1)
            )
        )
        log("  scored")
    table = auc_table(results, y_isic[held], "head (fold 0, 320 scored)")
    log("done")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return table


if __name__ == "__main__":
    main()
