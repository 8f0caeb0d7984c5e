"""isicseg.run: a CLI run (datasets, model, callbacks) set up from a RunConfig."""

from __future__ import annotations

import pytest

from isicseg.config import RunConfig
from isicseg.exceptions import ConfigError
from isicseg.run import train_run

from ..conftest import MINI_ROOT


def test_run_without_data_root(tmp_path):
    with pytest.raises(ConfigError, match=r"A run needs a data root: pass --data ROOT"):
        train_run(RunConfig(name="x"), runs_dir=tmp_path)


def test_misspelt_monitor_is_refused_before_training(tmp_path):
    config = RunConfig().replace(
        root=str(MINI_ROOT), monitor="val_jacard", val_split="validation", backbone="resnet18_fpn", pretrained="none"
    )
    with pytest.raises(
        ConfigError,
        match=r"eval.monitor 'val_jacard' is not a metric validation logs \(did you mean 'val_jaccard'\?\); allowed: val_loss, val_jaccard",
    ):
        train_run(config, runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before any folder was made
