"""One GPU: training and inference images/s of the mission's model, and JPEG decoding.

Measures, in one run on one CUDA device (about 5 minutes on an H200-class GPU):

* training images/s of ``resnet50_fpn`` Mask R-CNN at 800 px (shorter side), batch
  ``--batch-size``, in fp32, bf16 (autocast) and fp16 (autocast + GradScaler): the same
  step as :class:`isicseg.Trainer` (forward, summed loss, backward, SGD step), with
  DataLoader workers reading full-size ISIC-like JPEGs (4288x2848, written by the script);
* the decoding of those JPEGs to 800 px: PIL in ``--workers`` DataLoader workers against
  ``torchvision.io.decode_jpeg(device="cuda")`` on batches of file bytes;
* inference images/s (eval mode, bf16 autocast) at 800 px.

It prints one table; ratios are against fp32 training measured in the same run. Without
CUDA it prints "no GPU: skipped" and exits 0, so CI runs its import path.

    python benchmarks/bench_gpu.py [--steps 30] [--batch-size 8] [--workers 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from isicseg import ISIC2017Dataset, build_mask_rcnn
from isicseg.data.layout import split_paths
from isicseg.engine import collate
from isicseg.transforms import get_transform

FULL_SIZE = (2848, 4288)  # height, width of the largest ISIC 2017 images


def write_full_size_split(root: Path, count: int) -> Path:
    """``count`` full-size JPEGs with masks and labels in the official layout (synthetic lesions, upscaled)."""
    from isicseg.data.synthetic import write_synthetic_isic

    write_synthetic_isic(root, num_images={"train": count}, image_size=(712, 1072), seed=0)
    paths = split_paths(root, "train")
    for image in paths.images.glob("*.jpg"):  # upscale to full size: real decode cost
        Image.open(image).resize(FULL_SIZE[::-1], Image.Resampling.BILINEAR).save(image, quality=92)
        mask = paths.mask_of(image.stem)
        Image.open(mask).resize(FULL_SIZE[::-1], Image.Resampling.NEAREST).save(mask)
    return root


def train_rate(model, loader, precision: str, steps: int, device: torch.device) -> float:
    """Images/s of ``steps`` training steps after 3 warm-up steps."""
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    model.train()
    seen, start, batches = 0, 0.0, iter(loader)
    for step in range(steps + 3):
        if step == 3:
            torch.cuda.synchronize()
            start, seen = time.perf_counter(), 0
        try:
            images, targets = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, targets = next(batches)
        images = [i.to(device, non_blocking=True) for i in images]
        targets = [{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in t.items()} for t in targets]
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        seen += len(images)
    torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


@torch.inference_mode()
def infer_rate(model, images: list[torch.Tensor], rounds: int) -> float:
    model.eval()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        model(images)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(rounds):
            model(images)
        torch.cuda.synchronize()
    return rounds * len(images) / (time.perf_counter() - start)


def decode_rates(files: list[Path], workers: int, size: int, device: torch.device) -> tuple[float, float]:
    """Images/s decoding full-size JPEGs to ``size`` px: PIL in workers, then nvJPEG on the GPU."""
    from torchvision.io import decode_jpeg, read_file
    from torchvision.transforms.v2.functional import resize

    from isicseg.data.io import read_image

    loader = torch.utils.data.DataLoader(
        files, batch_size=8, num_workers=workers, collate_fn=lambda paths: [read_image(p, size) for p in paths]
    )
    start = time.perf_counter()
    count = sum(len(batch) for batch in loader)
    pil = count / (time.perf_counter() - start)
    data = [read_file(str(p)) for p in files]
    decode_jpeg(data[:2], device=device)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(0, len(data), 8):
        for image in decode_jpeg(data[i : i + 8], device=device):
            resize(image, [size], antialias=True)
    torch.cuda.synchronize()
    return pil, len(data) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--images", type=int, default=64, help="full-size JPEGs to write")
    parser.add_argument("--image-size", type=int, default=800)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no GPU: skipped")
        return 0
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        root = write_full_size_split(Path(folder), args.images)
        dataset = ISIC2017Dataset(root, "train", image_size=args.image_size, transforms=get_transform("train"))
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            collate_fn=collate,
            pin_memory=True,
            persistent_workers=True,
            drop_last=True,
        )
        rows = []
        for precision in ("fp32", "bf16", "fp16"):
            torch.manual_seed(0)
            model = build_mask_rcnn(
                3, pretrained=False, norm="frozen_bn", min_size=args.image_size, max_size=round(args.image_size * 1.667)
            ).to(device)
            rate = train_rate(model, loader, precision, args.steps, device)
            rows.append((f"train {precision}", rate))
            print(f"train {precision}: {rate:.1f} images/s", flush=True)
        images = [dataset[i][0].as_subclass(torch.Tensor).to(device) for i in range(args.batch_size)]
        rows.append(("inference bf16", infer_rate(model, images, rounds=10)))
        pil, gpu = decode_rates(
            sorted(split_paths(root, "train").images.glob("*.jpg")), args.workers, args.image_size, device
        )
        rows += [(f"decode PIL, {args.workers} workers", pil), ("decode nvJPEG (decode_jpeg on cuda)", gpu)]
    base = rows[0][1]
    print(f"\n{'what':40s} {'images/s':>9s} {'x fp32 train':>13s}")
    for name, rate in rows:
        print(f"{name:40s} {rate:9.1f} {rate / base:13.2f}")
    epoch_minutes = 2000 * 20 / max(r for n, r in rows if n.startswith("train")) / 60
    print(f"\n2000 images x 20 epochs at the best training rate: {epoch_minutes:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
