"""The training loop behind ``isicseg train`` and user scripts."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from .._devices import autocast, resolve_device, resolve_precision
from .._version import __version__
from ..callbacks import Callback, HistoryLogger, ModelCheckpoint, SaveConfig
from ..checkpoint import IDENTITY_KEY, read_checkpoint
from ..exceptions import ConfigError, NonFiniteLossError, WeightsError
from ..ops import collate
from . import distributed as dist
from .checkpoint import rng_state, save_checkpoint, set_rng_state
from .config import TrainerConfig
from .fitting import fit_closed_form
from .samplers import EpochBatchSampler
from .schedule import build_scheduler, replay_scheduler
from .validation import Evaluator, ValidationLoop

__all__ = ["Trainer", "collate"]

RESUME_ENTRIES = ("model", "optimizer", "scheduler", "epoch", "global_step", "rng", "callbacks")
"""What a checkpoint needs for :meth:`Trainer.fit` to resume from it."""


def _identity_dict(model: torch.nn.Module) -> dict[str, Any]:
    """The model's identity for its checkpoint (``model.identity.to_dict()``; empty for a model without one)."""
    identity = getattr(model, "identity", None)
    return identity.to_dict() if hasattr(identity, "to_dict") else {}


def _pick_device(choice: str) -> torch.device:
    return resolve_device(choice, auto_index=dist.local_rank())


def _check_fit_arguments(model: Any, train_data: Any, val_data: Any) -> None:
    """Refuse what cannot be trained on before anything starts (the first training item is read once)."""
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"Trainer.fit needs a torch.nn.Module as its model (e.g. build_mask_rcnn(...)); got {type(model).__name__}."
        )
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None and name == "val_data":
            continue
        if isinstance(data, (str, bytes, Path)) or not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
            raise ConfigError(
                f"Trainer.fit: {name} must be a map-style dataset of (image, target) pairs (e.g. "
                "ISIC2017Dataset(root, 'train')); "
                f"got {type(data).__name__} {str(data)[:60]!r}."
            )
        if len(data) == 0:
            raise ConfigError(
                f"Trainer.fit: {name} holds no item; there is nothing to "
                f"{'train on' if name == 'train_data' else 'validate on'}."
            )
    # items are checked as batches are made (collate): reading one here would run its transforms and use up random
    # numbers


class Trainer(ValidationLoop):
    """Train a torchvision detection model on ISIC data, with callbacks and exact resume.

    The loop, per epoch: set the sampler's epoch; for each batch, forward in train mode,
    sum the losses, check they are finite, backward (scaled under fp16), and every
    ``accumulate`` batches clip, step the optimizer and the per-step learning-rate
    schedule; then fit every submodule fitted in closed form
    (:class:`~isicseg.engine.fitting.ClosedFormFit`, such as
    :class:`~isicseg.models.heads.LesionCropClassifier`) on every process's samples; validate
    (loss, then the evaluator's metrics, see :mod:`isicseg.engine.validation`); run the
    callbacks; write ``last.pt``. The engine knows nothing of ISIC: any map-style dataset
    in torchvision's detection contract trains and validates.

    Args:
        config: A :class:`TrainerConfig`.
        callbacks: Callbacks, called in order (checkpoint callbacks after the others).
            A :class:`~isicseg.callbacks.HistoryLogger` is added when none is given.
        evaluator: Validation metrics (see :mod:`isicseg.engine.validation`); by default
            the one registered for the validation dataset's type (ISIC 2017 scores for an
            :class:`~isicseg.ISIC2017Dataset`, without test-time augmentation), else mask
            and box IoU of the top detection. ``isicseg train`` passes an
            ``IsicEvaluator`` with the run's ``tta`` and ``postprocess``.

    Attributes:
        metrics: Latest logged values (``train_loss``, ``val_loss``, ``val_jaccard``, ...).
        history: One dict of metrics per epoch (``trainer.metrics`` of each epoch, with
            its ``epoch`` index).
        should_stop: Set by callbacks to end training after the current epoch.

    Example:
        >>> from isicseg import ISIC2017Dataset, build_mask_rcnn, write_synthetic_isic
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"train": 2}, image_size=(48, 64))
        >>> model = build_mask_rcnn(3, backbone="resnet18_fpn", min_size=48, max_size=64)
        >>> trainer = Trainer(TrainerConfig(epochs=1, batch_size=2, warmup_steps=0))
        >>> history = trainer.fit(model, ISIC2017Dataset(root, "train"))
        >>> len(history), math.isfinite(history[0]["train_loss"])
        (1, True)
    """

    def __init__(
        self,
        config: TrainerConfig | None = None,
        callbacks: Sequence[Callback] = (),
        *,
        evaluator: Evaluator | None = None,
    ) -> None:
        self.config = config or TrainerConfig()
        self.evaluator = evaluator
        callbacks = list(callbacks)
        if not any(isinstance(c, HistoryLogger) for c in callbacks):
            callbacks.append(HistoryLogger())
        if self.config.out_dir and not any(isinstance(c, SaveConfig) for c in callbacks):
            callbacks.append(SaveConfig())  # config.json: the Trainer's own configuration
        keys = [c.state_key for c in callbacks]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"Two callbacks share a state key ({keys}); give each a distinct state_key.")
        # checkpoint callbacks run last, so that the state they save is final for the epoch
        self.callbacks = sorted(callbacks, key=lambda c: isinstance(c, ModelCheckpoint))
        self.out_dir: Path | None = Path(self.config.out_dir) if self.config.out_dir else None
        self.metrics: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.global_step = 0
        self.skipped_batches = 0
        self.should_stop = False
        self.validated_this_epoch = False
        self.batches_per_epoch = 0
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.total_steps = 0
        self.scaler: torch.amp.GradScaler | None = None
        self.sampler: EpochBatchSampler | None = None
        self.device = torch.device("cpu")

    # -- helpers ------------------------------------------------------------------------------

    @property
    def is_main_process(self) -> bool:
        return dist.is_main_process()

    @property
    def unwrapped_model(self) -> torch.nn.Module:
        model = self.model
        return model.module if isinstance(model, DistributedDataParallel) else model

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _autocast(self):
        return autocast(self._precision(), self.device)

    def _precision(self) -> str:
        """The precision in use (see :func:`~isicseg._devices.resolve_precision`): on CPU only an explicit ``"bf16"``
        leaves fp32."""
        return resolve_precision(self.config.precision, self.device)

    def _build_optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        lr = self.config.resolved_lr(dist.world_size())
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=self.config.momentum, weight_decay=self.config.weight_decay)
        # the fused kernel: the same algorithm in one pass over all tensors (the per-tensor loop is slow on CPU)
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.AdamW(params, lr=lr, weight_decay=self.config.weight_decay, fused=True if fused else None)

    def _loader(self, dataset: torch.utils.data.Dataset) -> torch.utils.data.DataLoader:
        n = len(dataset)
        aspect = None
        if self.config.group_by_aspect_ratio and hasattr(dataset, "get_height_and_width"):
            aspect = [w / h for h, w in (dataset.get_height_and_width(i) for i in range(n))]
        labels = getattr(dataset, "labels", None)
        if self.config.balanced_sampling and labels is None:
            raise ConfigError("balanced_sampling needs a dataset with a .labels list (ISIC2017Dataset has one).")
        shares = None
        if self.config.source_shares is not None:
            names = getattr(dataset, "names", None)
            if names is None or len(names) != len(self.config.source_shares):
                raise ConfigError(
                    f"source_shares {self.config.source_shares} needs a MultiSourceDataset with "
                    f"{len(self.config.source_shares)} sources; "
                    f"the training data has {len(names) if names is not None else 'no named'} "
                    f"sources{f' ({names})' if names else ''}."
                )
            shares = dict(zip(names, self.config.source_shares))
        self.sampler = EpochBatchSampler(
            n,
            self.config.batch_size,
            seed=self.config.seed,
            labels=labels,
            aspect_ratios=aspect,
            balanced=self.config.balanced_sampling,
            groups=getattr(dataset, "sources", None) if shares else None,
            shares=shares,
            num_draws=self.config.epoch_items,
            rank=dist.rank(),
            world_size=dist.world_size(),
        )
        return torch.utils.data.DataLoader(
            dataset,
            batch_sampler=self.sampler,
            collate_fn=collate,
            num_workers=self.config.resolved_num_workers(),
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
        )

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The full training state as one dict (what ``last.pt`` holds)."""
        model = self.unwrapped_model
        state = {
            "model": model.state_dict(),
            IDENTITY_KEY: _identity_dict(model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "total_steps": self.total_steps,
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "epoch": self.epoch,
            "global_step": self.global_step,
            "skipped_batches": self.skipped_batches,
            "rng": rng_state(),
            "sampler": self.sampler.state_dict() if self.sampler else {},
            "callbacks": {c.state_key: c.state_dict() for c in self.callbacks},
            "history": [dict(h) for h in self.history],
            "config": self.config.to_dict(),
            "isicseg_version": __version__,
        }
        self._call("on_save_checkpoint", state)
        return state

    def save_checkpoint(self, path: str | Path) -> None:
        """Write :meth:`checkpoint` atomically (on the main process only)."""
        state = self.checkpoint()
        if self.is_main_process:
            save_checkpoint(state, path)

    def _restore(self, path: str | Path) -> None:
        state = read_checkpoint(path).contents
        missing = [key for key in RESUME_ENTRIES if key not in state]
        if missing:
            raise WeightsError(
                f"Cannot resume from {path}: it lacks {', '.join(map(repr, missing))} (it holds "
                f"{', '.join(map(repr, sorted(state)))}); "
                "a resumable checkpoint is a last.pt written by the Trainer. Load weights with load_model "
                "instead, or start a new run."
            )
        try:
            self.unwrapped_model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            first = str(error).strip().splitlines()
            raise WeightsError(
                f"Cannot resume from {path}: its weights or optimizer state do not fit this model "
                f"({type(error).__name__}: {' '.join(first[:2])[:300]}). It was written for another model; start a "
                "new run."
            ) from None
        self.global_step = int(state["global_step"])
        if state.get("total_steps") == self.total_steps and "lr_lambdas" not in state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        else:  # more epochs (the schedule stretches) or a 0.1 checkpoint (its LambdaLR state)
            self.scheduler = replay_scheduler(self.optimizer, self.config, self.total_steps, self.global_step)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"]) + 1
        self.skipped_batches = int(state.get("skipped_batches", 0))
        self.history = [dict(h) for h in state.get("history", [])]
        if state.get("sampler"):
            self.sampler.load_state_dict(state["sampler"])
        for callback in self.callbacks:
            # checkpoints of isicseg 0.1 keyed every callback by its class name
            saved = state["callbacks"].get(callback.state_key, state["callbacks"].get(type(callback).__qualname__))
            if saved is not None:
                callback.load_state_dict(saved)
        set_rng_state(state["rng"])
        self._call("on_load_checkpoint", state)

    # -- the loop ------------------------------------------------------------------------------

    def fit(
        self,
        model: torch.nn.Module,
        train_data: torch.utils.data.Dataset,
        val_data: torch.utils.data.Dataset | None = None,
        *,
        resume: str | Path | None = None,
    ) -> list[dict[str, Any]]:
        """Train ``model`` and return the history (one dict of metrics per epoch).

        Under torchrun, ``fit`` returns on every process once rank 0 has written its
        files (checkpoint, history, loss curve), and ``trainer.model`` is the plain model
        again (the ``DistributedDataParallel`` wrapper is let go).

        Args:
            model: A torchvision detection model (e.g. from :func:`~isicseg.build_mask_rcnn`).
            train_data: Dataset yielding ``(image, target)`` pairs.
            val_data: Optional validation dataset in the same contract (any map-style
                dataset, e.g. a ``torch.utils.data.Subset``), used as given (its
                transforms are not changed): validation loss and the evaluator's metrics.
            resume: A ``last.pt`` to continue from: model, optimizer, schedule, RNG,
                sampler and callback states are restored, and training goes on at the
                next epoch, as if it had never stopped.

        Raises:
            NonFiniteLossError: On a NaN or infinite loss (unless ``skip_nonfinite``).
        """
        config = self.config
        _check_fit_arguments(model, train_data, val_data)
        self.device = _pick_device(config.device)
        distributed = dist.init_distributed(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if resume is None:
            random.seed(config.seed)
            np.random.seed(config.seed)
            torch.manual_seed(config.seed)
        model.to(self.device)
        if config.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = (
            DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if distributed
            else model
        )
        loader = self._loader(train_data)
        self.batches_per_epoch = len(self.sampler)
        steps_per_epoch = -(-self.batches_per_epoch // config.accumulate)
        total_steps = steps_per_epoch * config.epochs
        self.optimizer = self._build_optimizer(model)
        self.total_steps = total_steps
        self.scheduler = build_scheduler(self.optimizer, config, total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if self._precision() == "fp16" else None
        if self.out_dir is not None and self.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        threads = torch.get_num_threads()
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)  # for this fit only
        try:
            self._call("on_fit_start")
            if resume is not None:
                self._restore(resume)
            while self.epoch < config.epochs and not self.should_stop:
                self._train_epoch(loader)
                self._fit_collected()
                self.validated_this_epoch = bool(
                    val_data is not None and config.validate_every and (self.epoch + 1) % config.validate_every == 0
                )
                if self.validated_this_epoch:
                    self.metrics.update(self.validate(self.unwrapped_model, val_data))
                self.history.append(self.metrics)  # the same dict: what callbacks log below is kept too
                self._call("on_train_epoch_end")
                self._call(
                    "on_train_epoch_logged"
                )  # every hook above has logged: what is shown does not depend on their order
                self.should_stop = dist.any_true(self.should_stop, self.device)
                if self.out_dir is not None:
                    self.save_checkpoint(self.out_dir / "last.pt")
                self.epoch += 1
            self._call("on_fit_end")
            dist.barrier()  # rank 0's files are complete wherever fit has returned
        except BaseException as error:
            self._call("on_exception", error)
            raise
        finally:
            torch.set_num_threads(threads)
            # let go of DistributedDataParallel's reducer now: kept until the interpreter shuts
            # down, it can hold the process group's work past its closing and abort the process
            self.model = self.unwrapped_model
        return self.history

    def _fit_collected(self) -> None:
        """Let submodules fitted in closed form (:class:`~isicseg.engine.fitting.ClosedFormFit`) fit on what
        the epoch showed every process. Their time counts in the epoch's ``epoch_seconds``."""
        start = time.perf_counter()
        fit_closed_form(self.unwrapped_model)
        self.metrics["epoch_seconds"] = self.metrics.get("epoch_seconds", 0.0) + time.perf_counter() - start

    def _optimizer_step(self) -> None:
        """Unscale (fp16), clip, step the optimizer and the schedule."""
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.global_step += 1

    def _train_epoch(self, loader: torch.utils.data.DataLoader) -> None:
        config, model = self.config, self.model
        self.sampler.set_epoch(self.epoch)
        self.metrics = {"epoch": self.epoch}
        self._call("on_train_epoch_start")
        model.train()
        totals: dict[str, float] = {}
        counted = 0
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for batch_idx, (images, targets) in enumerate(loader):
            self._call("on_train_batch_start", (images, targets), batch_idx)
            images = [image.to(self.device, non_blocking=True) for image in images]
            targets = [
                {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in t.items()}
                for t in targets
            ]
            last_of_step = (batch_idx + 1) % config.accumulate == 0 or batch_idx + 1 == self.batches_per_epoch
            sync = model.no_sync() if isinstance(model, DistributedDataParallel) and not last_of_step else nullcontext()
            with sync:
                with self._autocast():
                    loss_dict = model(images, targets)
                loss = sum(loss_dict.values())
                stacked = (
                    torch.stack([v.detach() for v in loss_dict.values()] + [loss.detach()]).float().cpu()
                )  # one sync
                values = dict(zip([*loss_dict, "loss"], stacked.tolist()))
                # decided together: a rank that skipped backward() alone would leave the
                # others waiting in DDP's gradient all-reduce
                if dist.any_true(not math.isfinite(values["loss"]), self.device):
                    values.pop("loss")
                    ids = [str(t.get("image_id")) for t in targets]
                    if not config.skip_nonfinite:
                        here = float(stacked[-1])
                        cause = "is not finite on another process" if math.isfinite(here) else f"is {here}"
                        raise NonFiniteLossError(
                            f"Loss {cause} at step {self.global_step} (epoch {self.epoch}); "
                            f"components here {values}; images here {ids}. Lower the learning rate, enable "
                            "grad_clip_norm, "
                            f"or set skip_nonfinite=True.",
                            losses=values,
                            image_ids=ids,
                            step=self.global_step,
                        )
                    self.skipped_batches += 1
                    self.optimizer.zero_grad(set_to_none=True)
                    continue
                scaled = loss / config.accumulate
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            if last_of_step:
                self._optimizer_step()
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value
            counted += 1
            self._call("on_train_batch_end", values, (images, targets), batch_idx)
        gathered = dist.all_gather_objects((totals, counted))
        count = sum(c for _, c in gathered)
        for key in totals:
            mean = sum(t.get(key, 0.0) for t, _ in gathered) / max(1, count)
            self.metrics["train_loss" if key == "loss" else f"train_{key}"] = mean
        self.metrics["skipped_batches"] = self.skipped_batches
        self.metrics["epoch_seconds"] = time.perf_counter() - start
