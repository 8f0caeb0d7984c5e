"""Mixed precision and resume on a CUDA device (skipped without one), and the GPU benchmark's import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from isicseg import ISIC2017Dataset, read_checkpoint
from isicseg.engine import Trainer, TrainerConfig

from ..helpers import tiny_model

BENCH_GPU = Path(__file__).parents[2] / "benchmarks" / "bench_gpu.py"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
FAST = {"batch_size": 2, "warmup_steps": 0, "optimizer": "adamw", "lr": 1e-4, "device": "cuda"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_gpu_benchmark_skips_cleanly_without_cuda():
    done = subprocess.run([sys.executable, str(BENCH_GPU)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "no GPU: skipped"


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_trains_with_finite_losses(synthetic_root, precision):
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=4)
    trainer = Trainer(TrainerConfig(epochs=1, precision=precision, **FAST))
    history = trainer.fit(tiny_model(), train)
    assert (trainer.scaler is not None) == (precision == "fp16")
    assert torch.isfinite(torch.tensor(history[-1]["train_loss"]))


@pytest.mark.gpu
@cuda
def test_resume_on_gpu_continues_the_run(synthetic_root, tmp_path):
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=4)
    Trainer(TrainerConfig(epochs=1, out_dir=str(tmp_path), precision="fp16", **FAST)).fit(tiny_model(), train)
    first = read_checkpoint(tmp_path / "last.pt").contents
    assert first["scaler"]  # the GradScaler's state is saved
    trainer = Trainer(TrainerConfig(epochs=2, out_dir=str(tmp_path), precision="fp16", **FAST))
    trainer.fit(tiny_model(seed=1), train, resume=tmp_path / "last.pt")
    assert trainer.epoch == 2 and read_checkpoint(tmp_path / "last.pt").epoch == 1
    assert trainer.global_step == 2 * first["global_step"]
