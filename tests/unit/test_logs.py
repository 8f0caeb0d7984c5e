"""Progress lines and the run log (``isicseg.logs``)."""

from __future__ import annotations

import logging
import re

import pytest

from isicseg import ISIC2017Dataset
from isicseg.callbacks import ProgressBar
from isicseg.engine import Trainer, TrainerConfig
from isicseg.logs import Progress, log_file, logger

from ..helpers import tiny_model


def test_progress_logs_every_n_steps_and_the_last_with_rate_and_eta(caplog):
    progress = Progress("work", 5, unit="image", items_per_step=2, every=2)
    with caplog.at_level(logging.INFO, logger="isicseg"):
        for _ in range(5):
            progress.update(loss=0.5)
    assert [line.split("  ")[:3] for line in progress.lines] == [
        ["work", f"image {n}/5", "loss 0.5"] for n in (2, 4, 5)
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "isicseg"] == progress.lines


def test_progress_by_time_logs_when_the_interval_has_passed():
    progress = Progress("work", 100, interval=0.0)  # every update is due
    progress.update()
    assert re.fullmatch(r"work  step 1/100  ([\d.e+]+|inf) images/s  eta (\d+:\d\d:\d\d|\?)", progress.lines[0])
    quiet = Progress("work", 100, interval=3600.0)
    for _ in range(99):
        quiet.update()
    assert quiet.lines == []  # nothing due before the last step
    quiet.update()
    assert len(quiet.lines) == 1 and "step 100/100" in quiet.lines[0]


@pytest.mark.slow
def test_training_without_a_terminal_logs_steps_and_epochs_into_the_run_log(synthetic_root, tmp_path):
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=4)
    config = TrainerConfig(epochs=1, batch_size=2, warmup_steps=0, optimizer="adamw", lr=1e-4)
    with log_file(tmp_path / "train.log"):
        Trainer(config, callbacks=[ProgressBar(enable=False, log_every_n_steps=1)]).fit(tiny_model(), train)
    lines = (tmp_path / "train.log").read_text().splitlines()
    steps = [line for line in lines if "step" in line]
    assert [line.split("  ")[:2] for line in steps] == [["epoch 1/1", "step 1/2"], ["epoch 1/1", "step 2/2"]]
    assert all(re.search(r"loss [\d.]+  [\d.]+ images/s  eta \d+:\d\d:\d\d", line) for line in steps), steps
    assert re.fullmatch(r"epoch 1/1  train_loss [\d.]+.*", lines[-1])
    assert not any(isinstance(h, logging.FileHandler) for h in logger.handlers)  # the file handler is gone afterwards
