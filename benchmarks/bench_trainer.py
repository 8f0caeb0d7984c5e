"""Trainer overhead: time per step of isicseg's Trainer against a bare torchvision loop.

Both train the same model (same initial weights), on the same batches in the same order,
with the same optimizer and seed, so they do exactly the same arithmetic (the script
checks that both end with identical weights); the order of the two is alternated over
rounds and the median per-step time is compared. The Trainer run
has its usual callbacks (history, progress bar off) and no validation, so the difference
is the loop's own overhead (sampler, loss bookkeeping, finiteness check, scheduler).

    python benchmarks/bench_trainer.py [--steps 20] [--rounds 3] [--image-size 128]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import torch

from isicseg import ISIC2017Dataset, Trainer, TrainerConfig, build_mask_rcnn, write_synthetic_isic
from isicseg.callbacks import Callback, ProgressBar
from isicseg.engine import EpochBatchSampler
from isicseg.models import FEW_PROPOSALS


class StepTimer(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer) -> None:
        self.times.append(time.perf_counter() - self._start)


def bare_loop(model, dataset, batches, lr, seed) -> float:
    torch.manual_seed(seed)
    torch.empty((), dtype=torch.int64).random_()  # the draw a DataLoader makes for its workers' base seed
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9, weight_decay=1e-4
    )
    model.train()
    start = time.perf_counter()
    for batch in batches:
        images, targets = zip(*(dataset[i] for i in batch))
        losses = model(list(images), list(targets))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    root = write_synthetic_isic(
        tempfile.mkdtemp(), num_images={"train": args.steps * args.batch_size}, image_size=(192, 256)
    )
    dataset = ISIC2017Dataset(root, "train", image_size=args.image_size)
    for i in range(len(dataset)):
        dataset[i]  # warm the mask cache for both loops
    torch.manual_seed(0)
    initial = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=args.image_size, max_size=round(args.image_size * 1.5), **FEW_PROPOSALS
    )
    lr = 0.001
    config = TrainerConfig(
        epochs=1,
        batch_size=args.batch_size,
        optimizer="sgd",
        lr=lr,
        warmup_steps=0,
        schedule="constant",
        group_by_aspect_ratio=False,
    )

    bare_times, trainer_times, final = [], [], {}
    for round_index in range(args.rounds):
        order = ["bare", "trainer"] if round_index % 2 == 0 else ["trainer", "bare"]
        for which in order:
            model = copy.deepcopy(initial)
            if which == "bare":
                batches = list(
                    EpochBatchSampler(len(dataset), args.batch_size, seed=config.seed)
                )  # the Trainer's epoch 0
                bare_times.append(bare_loop(model, dataset, batches, lr, config.seed) / args.steps)
            else:
                timer = StepTimer()
                Trainer(config, callbacks=[timer, ProgressBar(enable=False)]).fit(model, dataset)
                trainer_times.append(timer.times[0] / args.steps)
            final[which] = model.state_dict()
    bare, ours = statistics.median(bare_times), statistics.median(trainer_times)
    print(
        f"{args.steps} steps x {args.rounds} rounds, batch {args.batch_size}, {args.image_size} px, resnet18_fpn, CPU"
    )
    print(
        f"bare torchvision loop: {bare * 1000:.0f} ms/step (rounds: {', '.join(f'{t * 1000:.0f}' for t in bare_times)})"
    )
    print(
        f"isicseg Trainer:       {ours * 1000:.0f} ms/step (rounds: {', '.join(f'{t * 1000:.0f}' for t in trainer_times)})"
    )
    print(f"ratio Trainer / bare: {ours / bare:.3f} (overhead {100 * (ours / bare - 1):+.1f}%)")
    same = all(torch.equal(final["bare"][k], final["trainer"][k]) for k in final["bare"])
    print(f"both loops end with identical weights: {same}")


if __name__ == "__main__":
    main()
