from __future__ import annotations

import sys

import pytest

from isicseg import ISIC2017Dataset, read_checkpoint
from isicseg.callbacks import CALLBACKS, EarlyStopping, ModelCheckpoint, SaveConfig, TensorBoardLogger
from isicseg.config import RunConfig
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
        "save_config",
        "tensorboard",
    ]
    assert isinstance(CALLBACKS.get("early_stopping")(patience=2), EarlyStopping)
    with pytest.raises(UnknownNameError, match="Unknown callback 'early_stop'.*Did you mean 'early_stopping'"):
        CALLBACKS.get("early_stop")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EarlyStopping(mode="up"), "mode must be 'min' or 'max'; got 'up'"),
        (lambda: EarlyStopping(patience=0), "EarlyStopping: patience must be an int >= 1; got 0"),
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


@pytest.mark.slow
def test_config_json_has_one_writer_the_trainers_own_config_or_the_one_given(synthetic_root, tmp_path):
    import json

    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    fast = {"epochs": 1, "batch_size": 2, "warmup_steps": 0}
    plain = Trainer(TrainerConfig(**fast, out_dir=str(tmp_path / "plain")))
    assert sum(isinstance(c, SaveConfig) for c in plain.callbacks) == 1  # added, since none was given
    plain.fit(tiny_model(), train)
    assert TrainerConfig.from_file(tmp_path / "plain" / "config.json") == plain.config
    assert read_checkpoint(tmp_path / "plain" / "last.pt").run_config is None
    run = RunConfig(name="r").replace(epochs=1, lr=0.01)
    given = Trainer(
        TrainerConfig(**fast, out_dir=str(tmp_path / "run")), callbacks=[SaveConfig(run, checkpoint_key="run_config")]
    )
    assert sum(isinstance(c, SaveConfig) for c in given.callbacks) == 1  # the given one only: no second writer
    given.fit(tiny_model(), train)
    assert (
        json.loads((tmp_path / "run" / "config.json").read_text()) == run.to_dict()
    )  # the whole run, not the trainer section
    assert read_checkpoint(tmp_path / "run" / "last.pt").run_config == run.to_dict()
    assert not any(
        isinstance(c, SaveConfig) for c in Trainer(TrainerConfig(**fast)).callbacks
    )  # no folder, nothing to write
