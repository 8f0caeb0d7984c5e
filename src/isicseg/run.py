"""A whole training run as the command line does it: data, model, trainer, evaluation.

This is the application layer on top of the library: it reads a
:class:`~isicseg.config.RunConfig`, builds the datasets, the model and the callbacks,
trains with :class:`~isicseg.Trainer` and evaluates the best checkpoint. Every run writes
``<out>/<name>/`` with ``config.json`` (the whole :class:`~isicseg.config.RunConfig`),
``history.csv``/``.json``, ``last.pt``, ``best.pt`` (both also hold the run config),
``loss_curve.png``, ``train.log`` and ``evaluation/`` (the files and figures of
:func:`~isicseg.evaluate` for the best checkpoint).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, ProgressBar, SaveConfig
from .checkpoint import read_checkpoint
from .config import RunConfig, flat_fields
from .data import ISIC2017Dataset
from .data.sources import MultiSourceDataset, check_data_roots, data_root_kind, open_data_root
from .engine import Trainer
from .engine import distributed as dist
from .evaluation import EvaluationResult, IsicEvaluator, evaluate, format_summary, metric_names
from .exceptions import ConfigError
from .logs import log_file, logger
from .models import FEW_PROPOSALS, build_mask_rcnn
from .outputs import LOCK_NAME, check_apart, output_lock
from .transforms import get_transform

__all__ = ["LOCK_NAME", "build_model", "run_lock", "train_run"]

LOCK_NAME = LOCK_NAME  # the run folder's lock file (isicseg.outputs.LOCK_NAME)


def build_model(config: RunConfig, num_classes: int, *, label_scheme: str | None = None) -> torch.nn.Module:
    """The model a run configuration describes (see :func:`~isicseg.build_mask_rcnn`).

    Example:
        >>> from isicseg.config import ModelConfig
        >>> config = RunConfig(model=ModelConfig(backbone="resnet18_fpn", pretrained="none"))
        >>> build_model(config.replace(image_size=64), 3).transform.min_size
        (64,)
    """
    model, size = config.model, config.data.image_size
    options = dict(FEW_PROPOSALS) if model.proposals == "few" else {}
    if model.rois_per_image is not None:
        options["box_batch_size_per_image"] = model.rois_per_image
    return build_mask_rcnn(
        num_classes,
        pretrained=model.pretrained,
        backbone=model.backbone,
        backbone_weights=model.backbone_weights,
        classifier=model.classifier,
        mask_resolution=model.mask_resolution,
        min_size=size,
        max_size=round(size * 1.5),
        label_scheme=label_scheme,
        **options,
    )


RESUMABLE = ("epochs", "device", "num_workers", "num_threads")
"""Settings a resumed run may change: more epochs extend it (the learning-rate schedule
is stretched to the new total), the others do not change what it computes."""


def _differences(a: RunConfig, b: RunConfig) -> dict[str, tuple[Any, Any]]:
    """The settings (flat names, ``out_dir`` aside) whose values differ: ``{name: (a's, b's)}``."""
    mine, theirs = a.to_dict(), b.to_dict()
    return {
        name: (mine[section][name], theirs[section][name])
        for name, section in flat_fields().items()
        if name != "out_dir" and mine[section].get(name) != theirs[section].get(name)
    }


def _resumable(saved: RunConfig, asked: RunConfig, run_dir: Path) -> RunConfig:
    """The saved configuration with the changes of ``RESUMABLE``; other changes are refused."""
    changed = _differences(saved, asked)
    refused = {k: v for k, v in changed.items() if k not in RESUMABLE}
    if refused:
        said = "; ".join(f"{k}: saved {a!r}, asked {b!r}" for k, (a, b) in refused.items())
        raise ConfigError(
            f"Cannot resume {run_dir} with other settings ({said}): a resumed run continues with those in "
            f"{run_dir / 'config.json'}. "
            f"Only {', '.join(RESUMABLE)} may change; start a new run (another --name) for the rest."
        )
    return saved.replace(**{k: b for k, (_, b) in changed.items()})


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process; a second process on the same folder is refused, naming the first.

    The lock is :func:`isicseg.outputs.output_lock` on ``<run_dir>/.isicseg.lock``: the
    operating system drops it when the holder exits, also on ``kill -9``, so a crashed run
    never leaves a stale lock.
    """
    with output_lock(run_dir, "train", what="Run folder", advice="choose another --name"):
        yield


def _run_inputs(config: RunConfig) -> list[Path]:
    """The files and folders a run reads that the run folder must stay apart from: its data roots and weight files."""
    model = config.model
    weights = [w for w in (model.pretrained, model.backbone_weights) if w and w not in ("coco", "none", "imagenet")]
    return [Path(p) for p in (config.data.root, *config.data.extra_roots, *weights) if p]


def _with_extra_sources(train: ISIC2017Dataset, data, augment) -> MultiSourceDataset:
    """``train`` plus the train split (HAM10000: all of it) of each extra root, as named sources."""
    sources: dict[str, object] = {"isic2017": train}
    for root in data.extra_roots:
        kind = data_root_kind(root)
        name = kind if kind not in sources else f"{kind}_{sum(n.startswith(kind) for n in sources) + 1}"
        sources[name] = open_data_root(
            root, "train", label_scheme=data.label_scheme, image_size=data.image_size, transforms=augment
        )
    return MultiSourceDataset(sources, classifier_sources=None if data.extra_train_classifier else ["isic2017"])


def _saved_config(run_dir: Path) -> RunConfig:
    """The configuration a run continues with: the one stored in its ``last.pt`` (the truth), which
    ``config.json`` must still match; an edited ``config.json`` is refused, not half-used."""
    stored = read_checkpoint(run_dir / "last.pt").run_config
    written = RunConfig.from_file(run_dir / "config.json") if (run_dir / "config.json").is_file() else None
    if stored is None:  # a checkpoint of a plain Trainer run: only the file knows
        if written is None:
            raise ConfigError(
                f"Cannot resume {run_dir}: neither last.pt nor config.json holds the run's configuration."
            )
        return written
    truth = RunConfig.from_dict(stored, source=f"{run_dir / 'last.pt'}")
    edits = _differences(truth, written) if written is not None else {}
    edits = {k: v for k, v in edits.items() if k not in RESUMABLE}  # a resumed run may have written those already
    if edits:
        said = "; ".join(f"{k}: last.pt {a!r}, config.json {b!r}" for k, (a, b) in edits.items())
        raise ConfigError(
            f"Cannot resume {run_dir}: its config.json was edited after last.pt was written ({said}). A resumed "
            "run continues "
            "with the settings stored in last.pt: put config.json back as it was, and pass the changes a resumed "
            "run allows "
            f"({', '.join(RESUMABLE)}) as flags; for other settings start a new run."
        )
    return truth


def _check_monitor(config: RunConfig) -> None:
    """Refuse a monitor no validation logs before the first step, not after the first epoch."""
    if not config.data.val_split:
        return  # without validation the run monitors train_loss
    known = ["val_loss", *metric_names()]
    monitor = config.eval.monitor
    if monitor not in known and not monitor.startswith("train_"):
        close = difflib.get_close_matches(monitor, known, n=1)
        raise ConfigError(
            f"eval.monitor {monitor!r} is not a metric validation "
            f"logs{f' (did you mean {close[0]!r}?)' if close else ''}; "
            f"allowed: {', '.join(known)}, or a train_* loss."
        )


def _check_source_shares(config: RunConfig) -> None:
    """A share per data root, before the run folder is made."""
    shares, roots = config.trainer.source_shares, (config.data.root, *config.data.extra_roots)
    if shares is not None and len(shares) != len(roots):
        raise ConfigError(
            f"source_shares {shares} needs {len(shares)} data roots, one share each (the ISIC 2017 root first); got "
            f"{len(roots)}: {', '.join(map(str, roots))}. Give one --data per source, or other --source-shares."
        )


def train_run(
    config: RunConfig,
    *,
    runs_dir: str | Path = "runs",
    resume: bool = False,
    quiet: bool = False,
    inputs: Sequence[str | Path] = (),
) -> tuple[Path, EvaluationResult | None]:
    """Train and evaluate as ``isicseg train`` does.

    Args:
        config: The run's settings; ``config.data.root`` is required.
            ``config.trainer.out_dir`` is set here to ``<runs_dir>/<name>``.
        runs_dir: Parent folder of run folders (``isicseg train --out``).
        resume: Continue the run in ``<runs_dir>/<name>`` from its ``last.pt``, with the
            configuration saved there. ``config`` is then that configuration with at
            most the settings named in ``isicseg.run.RESUMABLE`` changed (more ``epochs`` extend the run),
            e.g. ``RunConfig.from_file(run_dir / "config.json").replace(epochs=5)``.
        quiet: Print nothing but the final summary.
        inputs: Further files the run was set up from (``isicseg train --config FILE``): like
            the data roots and weight files, they must lie outside the run folder.

    Returns:
        The run folder and the evaluation of the best checkpoint (``None`` when there is
        no evaluation split).
    """
    name = config.name or time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(runs_dir) / name
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise ConfigError(f"Cannot resume: {run_dir / 'last.pt'} does not exist; start the run without --resume.")
        config = _resumable(_saved_config(run_dir), config, run_dir)
    elif (run_dir / "last.pt").exists():
        raise ConfigError(
            f"Run folder {run_dir} already holds a run; pass --resume to continue it or choose another --name."
        )
    elif config.trainer.out_dir is not None and Path(config.trainer.out_dir) != run_dir:
        raise ConfigError(
            f"config.trainer.out_dir is {config.trainer.out_dir!r}, but train_run writes the run into {run_dir} "
            "(runs_dir/name); "
            f"leave trainer.out_dir unset and choose the folder with runs_dir and name."
        )
    if not config.data.root:
        raise ConfigError("A run needs a data root: pass --data ROOT (or data.root in the config file).")
    _check_monitor(config)
    _check_source_shares(config)
    check_data_roots(config.data)
    check_apart(
        [*_run_inputs(config), *inputs],
        replaced=[] if resume else [run_dir],
        into=[run_dir] if resume else [],
        command="train",
        advice="choose another --out or --name",
    )
    config = dataclasses.replace(config, name=name, trainer=dataclasses.replace(config.trainer, out_dir=str(run_dir)))
    created = not run_dir.exists()
    try:
        with run_lock(run_dir) if dist.is_main_process() else contextlib.nullcontext():
            if not resume and (run_dir / "last.pt").exists():  # written by a run that took the lock first
                raise ConfigError(
                    f"Run folder {run_dir} already holds a run; pass --resume to continue it or choose another --name."
                )
            return run_dir, _train_and_evaluate(config, run_dir, resume=resume, quiet=quiet)
    except BaseException:
        left = [p.name for p in run_dir.iterdir()] if run_dir.is_dir() else None
        if created and dist.is_main_process() and left in ([], [LOCK_NAME]):
            shutil.rmtree(run_dir, ignore_errors=True)  # refused before anything was trained: leave no folder behind
        raise


def _train_and_evaluate(config: RunConfig, run_dir: Path, *, resume: bool, quiet: bool) -> EvaluationResult | None:
    """The body of :func:`train_run`, inside the run folder's lock."""
    data, seed = config.data, config.trainer.seed
    augment = get_transform(data.augment) if data.augment else None
    train = ISIC2017Dataset(
        data.root,
        "train",
        label_scheme=data.label_scheme,
        image_size=data.image_size,
        subset=data.subset,
        seed=seed,
        transforms=augment,
    )
    if data.extra_roots:
        train = _with_extra_sources(train, data, augment)
    if not len(train):
        raise ConfigError(
            f"The train split of {data.root} holds no image (subset={data.subset!r}); there is nothing to train on."
        )
    val = (
        ISIC2017Dataset(data.root, data.val_split, label_scheme=data.label_scheme, image_size=data.image_size)
        if data.val_split
        else None
    )
    torch.manual_seed(seed)  # the model's initial weights belong to the run's seed too
    model = build_model(config, train.label_scheme.num_classes, label_scheme=train.label_scheme.name)
    monitor = config.eval.monitor if val is not None else "train_loss"
    mode = "min" if monitor.endswith("loss") else "max"
    callbacks = [
        ProgressBar(enable=False if quiet else None),
        LearningRateMonitor(),
        ModelCheckpoint(monitor=monitor, mode=mode),
        SaveConfig(config, checkpoint_key="run_config"),  # config.json holds the whole run configuration
    ]
    if config.eval.patience:
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.eval.patience))
    log = run_dir / "train.log" if dist.is_main_process() else None
    with log_file(log):
        if not quiet:
            logger.info("Run %s: %r\nModel: %s", run_dir, train, model.identity)
        # validation answers as the final evaluation does (one InferenceConfig), so best.pt is chosen by what is
        # reported
        evaluator = IsicEvaluator(val, config=config.inference) if val is not None else None
        Trainer(config.trainer, callbacks=callbacks, evaluator=evaluator).fit(
            model, train, val, resume=run_dir / "last.pt" if resume else None
        )
        result = None
        if dist.is_main_process():
            best = run_dir / ("best.pt" if (run_dir / "best.pt").exists() else "last.pt")
            model.load_state_dict(read_checkpoint(best).weights)
            test = None
            if data.eval_split:
                try:
                    test = ISIC2017Dataset(
                        data.root, data.eval_split, label_scheme=data.label_scheme, image_size=data.image_size
                    )
                except FileNotFoundError:
                    logger.warning("No %s split in %s; skipping the final evaluation.", data.eval_split, data.root)
            if test is not None:
                result = evaluate(model, test, config=config.inference, out_dir=run_dir / "evaluation", overwrite=True)
                logger.info(
                    "Evaluation of %s on the %s split (%d images):\n%s",
                    best.name,
                    data.eval_split,
                    len(test),
                    format_summary(result.summary),
                )
    return result
