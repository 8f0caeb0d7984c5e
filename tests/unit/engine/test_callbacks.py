from __future__ import annotations

import sys

import pytest

from isicseg import ISIC2017Dataset
from isicseg.callbacks import CALLBACKS, EarlyStopping, ModelCheckpoint, TensorBoardLogger
from isicseg.engine import Trainer, TrainerConfig
from isicseg.exceptions import ConfigError, UnknownNameError

from ...helpers import tiny_model


def test_callbacks_by_name():
    assert CALLBACKS.names() == [
        "early_stopping",
        "history",
        "lr_monitor",
        "model_checkpoint",
        "progress",
        "tensorboard",
    ]
    assert isinstance(CALLBACKS.get("early_stopping")(patience=2), EarlyStopping)
    with pytest.raises(UnknownNameError, match="Unknown callback 'early_stop'.*Did you mean 'early_stopping'"):
        CALLBACKS.get("early_stop")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EarlyStopping(mode="up"), "mode must be 'min' or 'max'; got 'up'"),
        (lambda: EarlyStopping(patience=0), "EarlyStopping needs patience >= 1 and min_delta >= 0; got patience=0"),
        (lambda: ModelCheckpoint(mode="best"), "mode must be 'min' or 'max'; got 'best'"),
    ],
)
def test_callback_argument_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.slow
def test_tensorboard_logger_writes_events(synthetic_root, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is part of the dev install")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    Trainer(
        TrainerConfig(epochs=2, batch_size=2, warmup_steps=0, out_dir=str(tmp_path)), callbacks=[TensorBoardLogger()]
    ).fit(tiny_model(), train)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = events.Scalars("epoch/train_loss")
    assert [e.step for e in losses] == [0, 1] and all(e.value > 0 for e in losses)
    assert len(events.Scalars("step/loss_mask")) == 2


def test_tensorboard_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were absent
    with pytest.raises(
        ConfigError, match=r"TensorBoardLogger needs the tensorboard package .*pip install 'isicseg\[tensorboard\]'"
    ):
        TensorBoardLogger()
