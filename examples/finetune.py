"""Fine-tune Mask R-CNN on ISIC 2017 lesions: the script to copy for a project of your own.

It uses the public isicseg API only: the dataset, augmentation presets,
``build_mask_rcnn``, the ``Trainer`` with callbacks, and ``evaluate``.

    python examples/finetune.py                          # synthetic data, from scratch, CPU-sized
    python examples/finetune.py --data data/isic2017 --pretrained coco --image-size 512 --epochs 12 \\
        --backbone resnet50_fpn --batch-size 4
    torchrun --nproc_per_node 4 examples/finetune.py --data data/isic2017 ...   # several GPUs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from isicseg import (
    ISIC2017Dataset,
    Trainer,
    TrainerConfig,
    build_mask_rcnn,
    evaluate,
    get_transform,
    write_synthetic_isic,
)
from isicseg.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, ProgressBar
from isicseg.engine import distributed
from isicseg.evaluation import format_summary
from isicseg.models import FEW_PROPOSALS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="ISIC 2017 root (default: write synthetic data under --out)")
    parser.add_argument("--out", type=Path, default=Path("runs/finetune"))
    parser.add_argument("--backbone", default="resnet18_fpn")
    parser.add_argument("--pretrained", default="none", help="'coco', 'none' or a weight file")
    parser.add_argument("--label-scheme", default="binary", choices=["binary", "three_class"])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--lr", type=float, default=None, help="default: 5e-4 (AdamW) from scratch, the SGD rule with weights"
    )
    parser.add_argument("--subset", type=int, help="train on a seeded random subset of this many images")
    parser.add_argument("--synthetic-images", type=int, default=120, help="training images when no --data is given")
    parser.add_argument("--device", default="auto")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data = args.data
    # under torchrun, join the process group first, so that the processes can wait for each other below
    cuda = torch.cuda.is_available() and args.device != "cpu"
    distributed.init_distributed(torch.device("cuda", distributed.local_rank()) if cuda else torch.device("cpu"))
    if data is None:  # synthetic ISIC data in the official layout: nothing to download
        data = args.out / "synthetic-isic"
        if distributed.is_main_process() and not (data / "ISIC-2017_Test_v2_Part3_GroundTruth.csv").exists():
            write_synthetic_isic(data, num_images={"train": args.synthetic_images, "validation": 20, "test": 30})
        distributed.barrier()  # the others read the data once it is written

    size = args.image_size
    train = ISIC2017Dataset(
        data,
        "train",
        label_scheme=args.label_scheme,
        image_size=size,
        subset=args.subset,
        transforms=get_transform("train"),
    )
    val = ISIC2017Dataset(data, "validation", label_scheme=args.label_scheme, image_size=size)
    test = ISIC2017Dataset(data, "test", label_scheme=args.label_scheme, image_size=size)
    print(train)

    from_scratch = args.pretrained == "none"
    torch.manual_seed(0)  # reproducible initial weights (the Trainer seeds everything after this)
    model = build_mask_rcnn(
        train.label_scheme.num_classes,
        pretrained=False if from_scratch else args.pretrained,
        backbone=args.backbone,
        min_size=size,
        max_size=round(size * 1.5),
        label_scheme=train.label_scheme.name,
        **(FEW_PROPOSALS if from_scratch else {}),
    )

    config = TrainerConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer="adamw" if from_scratch else "sgd",
        lr=args.lr or (5e-4 if from_scratch else None),
        schedule="cosine" if from_scratch else "step",
        warmup_steps=20,
        grad_clip_norm=10.0,
        balanced_sampling=True,
        device=args.device,
        out_dir=str(args.out / "run"),
    )
    callbacks = [
        ProgressBar(),
        LearningRateMonitor(),
        ModelCheckpoint(monitor="val_jaccard", mode="max"),
        EarlyStopping(monitor="val_loss", mode="min", patience=4),
    ]
    trainer = Trainer(config, callbacks=callbacks)
    trainer.fit(model, train, val)

    if trainer.is_main_process:
        result = evaluate(model, test, out_dir=args.out / "evaluation", overwrite=True)  # this run's own folder
        print(format_summary(result.summary))
        print(f"Files in {args.out}")


if __name__ == "__main__":
    main()
