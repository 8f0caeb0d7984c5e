"""A whole training run as the command line does it: data, model, trainer, evaluation.

Every run writes ``<out>/<name>/`` with ``config.json`` (the resolved configuration:
trainer fields plus the run settings under ``extra``), ``history.csv``/``.json``,
``last.pt``, ``best.pt``, ``loss_curve.png``, ``train.log`` and ``evaluation/`` (the
files and figures of :func:`~isicseg.evaluate` for the best checkpoint).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import torch

from ..callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, ProgressBar
from ..data import ISIC2017Dataset
from ..evaluation import EvaluationResult, evaluate, format_summary
from ..exceptions import ConfigError
from ..models import FEW_PROPOSALS, build_mask_rcnn
from ..transforms import get_transform
from . import distributed as dist
from .config import TrainerConfig
from .trainer import Trainer

__all__ = ["RUN_DEFAULTS", "train_run"]

RUN_DEFAULTS: dict[str, Any] = {
    "data": None,
    "name": None,
    "image_size": 512,
    "backbone": "resnet50_fpn",
    "pretrained": "coco",
    "label_scheme": "binary",
    "subset": None,
    "val_split": "validation",
    "eval_split": "test",
    "proposals": "default",
    "augment": "train",
    "monitor": "val_jaccard",
    "patience": None,
}
"""Run settings besides :class:`~isicseg.TrainerConfig`; stored in ``config.json`` under ``extra``."""


class _Tee:
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return self.streams[0].isatty()


@contextmanager
def _log_to(path: Path | None):
    if path is None:
        yield
        return
    with path.open("a") as log:
        stdout = sys.stdout
        sys.stdout = _Tee(stdout, log)
        try:
            yield
        finally:
            sys.stdout = stdout


def _build_model(settings: dict[str, Any], num_classes: int) -> torch.nn.Module:
    pretrained = settings["pretrained"]
    pretrained = False if pretrained in (None, "none", False) else pretrained
    size = int(settings["image_size"])
    extra = FEW_PROPOSALS if settings["proposals"] == "few" else {}
    return build_mask_rcnn(num_classes, pretrained=pretrained, backbone=settings["backbone"], min_size=size, max_size=round(size * 1.5), **extra)


def train_run(config: TrainerConfig, *, out: str | Path = "runs", resume: bool = False, quiet: bool = False) -> tuple[Path, EvaluationResult | None]:
    """Train and evaluate as ``isicseg train`` does.

    Args:
        config: Trainer configuration whose ``extra`` holds the run settings (keys of
            :data:`~isicseg.engine.run.RUN_DEFAULTS`; ``data`` is required). ``out_dir`` is set here to
            ``<out>/<name>``.
        out: Parent folder of run folders.
        resume: Continue the run in ``<out>/<name>`` from its ``last.pt``, with the
            configuration saved there.
        quiet: Print nothing but the final summary.

    Returns:
        The run folder and the evaluation of the best checkpoint (``None`` when the
        evaluation split is absent from the data root).
    """
    settings = {**RUN_DEFAULTS, **config.extra}
    unknown = sorted(set(config.extra) - set(RUN_DEFAULTS))
    if unknown:
        raise ConfigError(f"Unknown run settings {unknown}; allowed: {', '.join(RUN_DEFAULTS)}.")
    if not settings["data"]:
        raise ConfigError("A run needs a data root: pass --data ROOT (or 'data' in the config file).")
    name = settings["name"] or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(out) / name
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise ConfigError(f"Cannot resume: {run_dir / 'last.pt'} does not exist; start the run without --resume.")
        config = TrainerConfig.from_file(run_dir / "config.json")
        settings = {**RUN_DEFAULTS, **config.extra}
    elif (run_dir / "last.pt").exists():
        raise ConfigError(f"Run folder {run_dir} already holds a run; pass --resume to continue it or choose another --name.")
    settings["name"] = name
    config = dataclasses.replace(config, out_dir=str(run_dir), extra=settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    size = int(settings["image_size"])
    augment = get_transform(settings["augment"]) if settings["augment"] else None
    train = ISIC2017Dataset(settings["data"], "train", label_scheme=settings["label_scheme"], image_size=size, subset=settings["subset"], seed=config.seed, transforms=augment)
    val = ISIC2017Dataset(settings["data"], settings["val_split"], label_scheme=settings["label_scheme"], image_size=size) if settings["val_split"] else None
    torch.manual_seed(config.seed)  # the model's initial weights belong to the run's seed too
    model = _build_model(settings, train.label_scheme.num_classes)
    model.isicseg_config["label_scheme"] = train.label_scheme.name
    monitor = settings["monitor"] if val is not None else "train_loss"
    mode = "min" if monitor.endswith("loss") else "max"
    callbacks = [ProgressBar(enable=False if quiet else None), LearningRateMonitor(), ModelCheckpoint(monitor=monitor, mode=mode)]
    if settings["patience"]:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=int(settings["patience"])))
    log = run_dir / "train.log" if dist.is_main_process() else None
    with _log_to(log):
        if not quiet:
            print(f"Run {run_dir}: {train!r}\nModel: {model.isicseg_config}")
        Trainer(config, callbacks=callbacks).fit(model, train, val, resume=run_dir / "last.pt" if resume else None)
        result = None
        if dist.is_main_process():
            best = run_dir / ("best.pt" if (run_dir / "best.pt").exists() else "last.pt")
            model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["model"])
            try:
                test = ISIC2017Dataset(settings["data"], settings["eval_split"], label_scheme=settings["label_scheme"], image_size=size)
            except FileNotFoundError:
                test = None
                print(f"No {settings['eval_split']} split in {settings['data']}; skipping the final evaluation.")
            if test is not None:
                result = evaluate(model, test, out_dir=run_dir / "evaluation", batch_size=config.eval_batch_size)
                print(f"Evaluation of {best.name} on the {settings['eval_split']} split ({len(test)} images):")
                print(format_summary(result.summary))
    return run_dir, result
