from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

from isicseg import ISIC2017Dataset, read_checkpoint
from isicseg.callbacks import Callback, EarlyStopping, HistoryLogger, LearningRateMonitor, ModelCheckpoint, ProgressBar
from isicseg.engine import Trainer, TrainerConfig
from isicseg.exceptions import ConfigError, NonFiniteLossError

from ...helpers import tiny_model

FAST = {"batch_size": 2, "warmup_steps": 0, "optimizer": "adamw", "lr": 1e-4, "eval_batch_size": 4}


@pytest.fixture(scope="module")
def data(synthetic_root):
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=4)
    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64, subset=2)
    return train, val


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")
            return lambda trainer, *args: calls.append(name)
        return object.__getattribute__(self, name)


class FakeMetric(Callback):
    """Logs a scripted value per epoch as 'fake' and snapshots the weights."""

    def __init__(self, values):
        self.values, self.snapshots = values, {}

    def on_train_epoch_end(self, trainer):
        trainer.metrics["fake"] = self.values[trainer.epoch]
        self.snapshots[trainer.epoch] = {k: v.clone() for k, v in trainer.unwrapped_model.state_dict().items()}


@pytest.mark.slow
def test_hooks_fire_in_order(data, tmp_path):
    recorder = Recorder()
    Trainer(TrainerConfig(epochs=2, out_dir=str(tmp_path), **FAST), callbacks=[recorder]).fit(tiny_model(), *data)
    epoch = (
        ["on_train_epoch_start"]
        + ["on_train_batch_start", "on_train_batch_end"] * 2
        + [
            "on_validation_start",
            "on_validation_end",
            "on_train_epoch_end",
            "on_train_epoch_logged",
            "on_save_checkpoint",
        ]
    )
    assert recorder.calls == ["on_fit_start", *epoch, *epoch, "on_fit_end"]


@pytest.mark.slow
@pytest.mark.parametrize("progress_first", [True, False])
def test_the_epoch_line_shows_lr_whatever_the_order_of_the_callbacks(data, caplog, progress_first):
    callbacks = [ProgressBar(enable=False), LearningRateMonitor()]
    with caplog.at_level("INFO", logger="isicseg"):
        Trainer(TrainerConfig(epochs=1, **FAST), callbacks=callbacks if progress_first else callbacks[::-1]).fit(
            tiny_model(), data[0]
        )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 1/1  train_loss ")]
    assert len(lines) == 1 and re.search(r"  lr [0-9.e-]+$", lines[0]), lines


@pytest.mark.slow
def test_exception_hook_and_nonfinite_loss(data):
    train, _ = data
    recorder = Recorder()
    poisoned = ISIC2017Dataset(
        train.root, "train", image_size=64, subset=4, transforms=lambda image, target: (image * float("nan"), target)
    )
    with pytest.raises(
        NonFiniteLossError, match=r"Loss is nan at step 0 \(epoch 0\); components here .*images here \['ISIC_"
    ) as info:
        Trainer(TrainerConfig(epochs=1, **FAST), callbacks=[recorder]).fit(tiny_model(), poisoned)
    assert set(info.value.losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    assert len(info.value.image_ids) == 2 and info.value.step == 0
    assert recorder.calls[-1] == "on_exception"
    history = Trainer(TrainerConfig(epochs=1, skip_nonfinite=True, **FAST)).fit(tiny_model(), poisoned)
    assert history[0]["skipped_batches"] == 2


@pytest.mark.slow
def test_early_stopping_stops(data):
    stopper = EarlyStopping(monitor="fake", mode="min", patience=2)
    history = Trainer(
        TrainerConfig(epochs=10, **FAST), callbacks=[FakeMetric([5, 4, 4, 4.5, 1, 1, 1, 1, 1, 1]), stopper]
    ).fit(tiny_model(), data[0])
    assert len(history) == 4 and stopper.stopped_epoch == 3 and stopper.best == 4


@pytest.mark.slow
def test_early_stopping_min_delta(data):
    stopper = EarlyStopping(monitor="fake", mode="max", patience=1, min_delta=0.1)
    history = Trainer(
        TrainerConfig(epochs=5, **FAST), callbacks=[FakeMetric([0.5, 0.55, 0.9, 0.95, 1.0]), stopper]
    ).fit(tiny_model(), data[0])
    assert len(history) == 2  # 0.55 is not 0.1 better than 0.5


@pytest.mark.slow
def test_best_checkpoint_follows_monitored_metric(data, tmp_path):
    fake = FakeMetric([0.3, 0.9, 0.5])
    checkpoint = ModelCheckpoint(monitor="fake", mode="max")
    Trainer(TrainerConfig(epochs=3, out_dir=str(tmp_path), **FAST), callbacks=[checkpoint, fake]).fit(
        tiny_model(), data[0]
    )
    best = read_checkpoint(tmp_path / "best.pt").contents
    assert best["epoch"] == 1 and checkpoint.best_score == 0.9 and checkpoint.best_epoch == 1
    for key, value in fake.snapshots[1].items():
        assert torch.equal(best["model"][key], value), key
    assert read_checkpoint(tmp_path / "last.pt").epoch == 2
    assert not torch.equal(
        best["model"]["roi_heads.box_predictor.cls_score.weight"],
        fake.snapshots[2]["roi_heads.box_predictor.cls_score.weight"],
    )


@pytest.mark.slow
def test_two_model_checkpoints_keep_their_own_best(data, tmp_path):
    fake = FakeMetric([0.3, 0.9, 0.5])
    high = ModelCheckpoint(monitor="fake", mode="max", filename="best_high.pt")
    low = ModelCheckpoint(monitor="fake", mode="min", filename="best_low.pt")
    Trainer(TrainerConfig(epochs=3, out_dir=str(tmp_path), **FAST), callbacks=[high, low, fake]).fit(
        tiny_model(), data[0]
    )
    assert (high.best_epoch, low.best_epoch) == (1, 0)
    assert (
        read_checkpoint(tmp_path / "best_high.pt").epoch == 1 and read_checkpoint(tmp_path / "best_low.pt").epoch == 0
    )
    states = read_checkpoint(tmp_path / "last.pt").contents["callbacks"]
    assert states[high.state_key]["best_score"] == 0.9 and states[low.state_key]["best_score"] == 0.3


@pytest.mark.slow
def test_monitoring_an_unlogged_metric_lists_logged_ones(data):
    with pytest.raises(
        ConfigError, match=r"EarlyStopping monitors 'val_jacard', which is not logged. Logged: .*train_loss"
    ):
        Trainer(TrainerConfig(epochs=1, **FAST), callbacks=[EarlyStopping(monitor="val_jacard")]).fit(
            tiny_model(), *data
        )


@pytest.mark.slow
def test_run_folder_files_and_metrics(data, tmp_path):
    history = Trainer(
        TrainerConfig(epochs=2, out_dir=str(tmp_path), **FAST),
        callbacks=[LearningRateMonitor(), ProgressBar(enable=False)],
    ).fit(tiny_model(), *data)
    for name in ("config.json", "history.csv", "history.json", "last.pt", "loss_curve.png"):
        assert (tmp_path / name).is_file(), name
    assert TrainerConfig.from_file(tmp_path / "config.json") == TrainerConfig(epochs=2, out_dir=str(tmp_path), **FAST)
    row = history[-1]
    for key in (
        "train_loss",
        "train_loss_mask",
        "val_loss",
        "val_jaccard",
        "val_dice",
        "val_melanoma_auc",
        "val_mean_box_iou",
        "lr",
    ):
        assert key in row, key
    assert math.isfinite(row["train_loss"]) and 0 <= row["val_jaccard"] <= 1
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch,")


@pytest.mark.slow
def test_schedules_and_accumulation(data):
    lrs = LearningRateMonitor()
    config = TrainerConfig(
        epochs=2,
        batch_size=1,
        accumulate=2,
        optimizer="sgd",
        lr=0.01,
        warmup_steps=2,
        warmup_factor=0.1,
        schedule="step",
        milestones=(0.5,),
        gamma=0.1,
    )
    trainer = Trainer(config, callbacks=[lrs])
    trainer.fit(tiny_model(), data[0])
    assert trainer.global_step == 4  # 4 images / batch 1 / accumulate 2 x 2 epochs
    # per batch: lr after the step that ended it; warmup 0.1 -> 1 over 2 steps, then x0.1 at half of 4 steps,
    # which is the warmup's end: it takes effect one step later
    assert lrs.steps == pytest.approx([0.001, 0.0055, 0.0055, 0.01, 0.01, 0.001, 0.001, 0.001])


def test_grad_clipping_bounds_the_update(data):
    model = tiny_model()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    Trainer(
        TrainerConfig(
            epochs=1,
            batch_size=4,
            optimizer="sgd",
            lr=1.0,
            momentum=0.0,
            weight_decay=0.0,
            warmup_steps=0,
            grad_clip_norm=1e-3,
        )
    ).fit(model, data[0])
    change = torch.sqrt(sum(((p.detach() - before[k]) ** 2).sum() for k, p in model.named_parameters()))
    assert 0 < float(change) <= 1e-3 * 1.0001  # one SGD step of lr 1 moves by the clipped norm


def test_balanced_sampling_needs_labels():
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise AssertionError

    with pytest.raises(ConfigError, match="balanced_sampling needs a dataset with a .labels list"):
        Trainer(TrainerConfig(epochs=1, balanced_sampling=True, **FAST)).fit(tiny_model(), Plain())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, r"TrainerConfig.epochs must be an int >= 1; got 0"),
        ({"optimizer": "adam"}, r"TrainerConfig.optimizer must be one of 'sgd', 'adamw'; got 'adam'"),
        ({"lr": "0.01"}, r"TrainerConfig.lr must be a finite number or None; got '0.01'"),
        ({"milestones": 0.5}, r"TrainerConfig.milestones must be a list of floats; got 0.5"),
        ({"batch_size": True}, r"TrainerConfig.batch_size must be an int; got True"),
        ({"eval_batch_size": 0}, r"TrainerConfig.eval_batch_size must be an int >= 1; got 0"),
        ({"momentum": 1.5}, r"TrainerConfig.momentum must be a float in \[0, 1\); got 1.5"),
        ({"weight_decay": -1}, r"TrainerConfig.weight_decay must be a float >= 0; got -1.0"),
        ({"gamma": 0}, r"TrainerConfig.gamma must be a float in \(0, 1\]; got 0.0"),
        ({"precision": "fp8"}, r"TrainerConfig.precision must be"),
        ({"milestones": (1.5,)}, r"TrainerConfig.milestones must be fractions in \(0, 1\)"),
        ({"accumulate": 0}, r"TrainerConfig.accumulate must be an int >= 1"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainerConfig(**kwargs)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text('{"epochs": 2, "epoch": 3}')
    with pytest.raises(ConfigError, match=r"Unknown TrainerConfig field 'epoch' in .*c.json. Did you mean 'epochs'\?"):
        TrainerConfig.from_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"holds a JSON list; expected a JSON object"):
        TrainerConfig.from_file(bad)
    bad.write_text("{")
    with pytest.raises(ConfigError, match=r"Could not read Trainer config .*c.json"):
        TrainerConfig.from_file(bad)


def test_lr_scaling_rule():
    assert TrainerConfig(batch_size=4).resolved_lr() == pytest.approx(0.005)
    assert TrainerConfig(batch_size=4, accumulate=2).resolved_lr(world_size=2) == pytest.approx(0.02)
    assert TrainerConfig(optimizer="adamw").resolved_lr() == 3e-4


def test_cuda_device_without_cuda(data):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="device 'cuda' was asked for, but CUDA is not available on this machine"):
        Trainer(TrainerConfig(epochs=1, device="cuda", **FAST)).fit(tiny_model(), data[0])


def test_duplicate_callback_state_keys():
    with pytest.raises(ConfigError, match="Two callbacks share a state key"):
        Trainer(callbacks=[HistoryLogger(), HistoryLogger()])


@pytest.mark.slow
def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one_and_a_matching_history(
    data, tmp_path, monkeypatch
):
    import json
    from collections import namedtuple

    from isicseg.engine import checkpoint as checkpoint_module
    from isicseg.exceptions import CheckpointError

    train, _ = data
    trainer = Trainer(TrainerConfig(epochs=2, out_dir=str(tmp_path), **FAST))
    real_save, calls = torch.save, []

    def save(obj, stream):
        calls.append(1)
        if len(calls) > 1:  # the second epoch's last.pt: the disk is full
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4416 vs 4304")
        real_save(obj, stream)

    monkeypatch.setattr(checkpoint_module.torch, "save", save)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1024))
    with pytest.raises(
        CheckpointError,
        match=rf"No space left on device while writing {tmp_path / 'last.pt'} \(0 MB free there\); the previous last.pt is intact",
    ):
        trainer.fit(tiny_model(), train)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert read_checkpoint(tmp_path / "last.pt").epoch == 0
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [0]
    assert not list(tmp_path.glob(".last.pt.*.tmp"))


def test_other_checkpoint_write_errors_are_named(tmp_path, monkeypatch):
    from isicseg.engine import checkpoint as checkpoint_module
    from isicseg.engine import save_checkpoint
    from isicseg.exceptions import CheckpointError

    def refuse(obj, stream):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoint_module.torch, "save", refuse)
    with pytest.raises(
        CheckpointError,
        match=rf"PermissionError: \[Errno 13\] Permission denied while writing {tmp_path / 'x.pt'} \(\d+ MB free there\); no x.pt was written",
    ):
        save_checkpoint({"a": 1}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bf16_and_channels_last_on_cpu(data):
    train, _ = data
    model = tiny_model()
    seen = []
    conv = model.backbone.body.conv1
    conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    history = Trainer(TrainerConfig(epochs=1, precision="bf16", channels_last=True, **FAST)).fit(model, train)
    assert seen and set(seen) == {torch.bfloat16}  # the convolutions ran in bf16
    assert math.isfinite(history[-1]["train_loss"])
    assert conv.weight.dtype == torch.float32  # weights stay fp32 (autocast, not a cast)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(
        ConfigError, match=r"precision 'fp16' needs a CUDA device; got device 'cpu'. On it use 'bf16' or 'fp32'"
    ):
        Trainer(TrainerConfig(epochs=1, precision="fp16", **FAST)).fit(tiny_model(), train)
    seen.clear()
    Trainer(TrainerConfig(epochs=1, **FAST)).fit(model, train)  # "auto" on CPU: fp32
    assert set(seen) == {torch.float32}


def test_num_threads_hold_for_the_fit_only(synthetic_root):
    seen = []

    class Threads(Callback):
        def on_train_batch_end(self, trainer, losses, batch, batch_idx):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    Trainer(TrainerConfig(epochs=1, batch_size=2, warmup_steps=0, num_threads=1), callbacks=[Threads()]).fit(
        tiny_model(), train
    )
    assert seen == [1] and torch.get_num_threads() == before


@pytest.mark.parametrize("schedule", ["step", "cosine", "constant"])
def test_the_schedule_is_torchs_and_matches_its_definition(schedule):
    from isicseg.engine.schedule import build_scheduler, replay_scheduler

    config = TrainerConfig(
        lr=0.1, warmup_steps=3, warmup_factor=0.1, schedule=schedule, milestones=(0.5, 0.8), gamma=0.1
    )
    total = 20
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    scheduler = build_scheduler(optimizer, config, total)
    assert isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()

    def expected(step: int) -> float:
        if step < 3:
            return 0.1 * (0.1 + 0.9 * step / 3)
        if schedule == "cosine":
            return 0.1 * 0.5 * (1 + math.cos(math.pi * (step - 3) / (total - 3)))
        if schedule == "step":
            return 0.1 * 0.1 ** sum(step >= m * total for m in (0.5, 0.8))
        return 0.1

    assert rates == pytest.approx([expected(s) for s in range(total)], rel=1e-9, abs=1e-12)
    fresh = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    build_scheduler(fresh, config, total)
    replay_scheduler(fresh, config, total, 7)  # resuming after 7 steps lands on the same rate, exactly
    assert fresh.param_groups[0]["lr"] == rates[7]


@pytest.mark.slow
def test_a_run_resumed_with_more_epochs_follows_the_longer_schedule(data, tmp_path):
    """1 epoch, then resumed to 2: epoch 2's rates are those of an uninterrupted 2-epoch run."""
    config = TrainerConfig(
        epochs=1,
        batch_size=1,
        optimizer="adamw",
        lr=1e-4,
        warmup_steps=1,
        warmup_factor=0.1,
        schedule="cosine",
        out_dir=str(tmp_path / "short"),
    )
    Trainer(config).fit(tiny_model(), data[0])
    resumed, uninterrupted = LearningRateMonitor(), LearningRateMonitor()
    Trainer(dataclasses.replace(config, epochs=2), callbacks=[resumed]).fit(
        tiny_model(), data[0], resume=tmp_path / "short" / "last.pt"
    )
    Trainer(dataclasses.replace(config, epochs=2, out_dir=None), callbacks=[uninterrupted]).fit(tiny_model(), data[0])
    assert len(resumed.steps) == 4 and len(uninterrupted.steps) == 8  # 4 images at batch 1
    assert resumed.steps == pytest.approx(uninterrupted.steps[4:], rel=1e-12)
    # the 1-epoch schedule had reached 0 at its end; the stretched one stands at 39% of lr after step 5
    assert resumed.steps[0] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi * 4 / 7)), rel=1e-9)
