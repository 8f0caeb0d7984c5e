"""DataLoader workers for the CPU recipe: median seconds per training step with 0, 1 and 2
workers reading real 384-px JPEGs with the training augmentation, in one run (the order
alternates over two rounds). This is what ``TrainerConfig(num_workers="auto")`` follows on
small machines.

    python benchmarks/bench_workers.py     # about 3 minutes on 2 cores
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from _weights import use_weight_file

from isicseg import ISIC2017Dataset, Trainer, TrainerConfig
from isicseg.callbacks import Callback
from isicseg.config import RunConfig, resolve_recipe
from isicseg.run import build_model
from isicseg.transforms import get_transform

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


class StepTimer(Callback):
    """Seconds between the ends of consecutive training steps (the first step warms up)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last = 0.0

    def on_train_batch_end(self, trainer, losses, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        if batch_idx:
            self.times.append(now - self._last)
        self._last = now


def main() -> dict[int, float]:
    use_weight_file(SHARED / "weights" / "mobilenet_v2-b0353104.pth")
    config = RunConfig.from_file(resolve_recipe("isic2017_cpu"))
    data = ISIC2017Dataset(
        SHARED / "isic2017-train-384",
        "train",
        label_scheme="three_class",
        image_size=config.data.image_size,
        transforms=get_transform("train"),
        subset=48,
        seed=0,
    )
    times: dict[int, list[float]] = {}
    for order in ([0, 1, 2], [2, 1, 0]):
        for workers in order:
            torch.manual_seed(0)
            timer = StepTimer()
            trainer_config = TrainerConfig(
                epochs=1,
                batch_size=config.trainer.batch_size,
                optimizer="adamw",
                lr=1e-4,
                warmup_steps=0,
                num_workers=workers,
            )
            Trainer(trainer_config, callbacks=[timer]).fit(build_model(config, 4, label_scheme="three_class"), data)
            times.setdefault(workers, []).extend(timer.times)
    medians = {workers: statistics.median(values) for workers, values in sorted(times.items())}
    for workers, seconds in medians.items():
        print(f"num_workers={workers}: {seconds:.3f} s/step, {medians[0] / seconds:.2f}x the speed of 0 workers")
    return medians


if __name__ == "__main__":
    main()
