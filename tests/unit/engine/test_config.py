"""TrainerConfig: every setting checked when made."""

from __future__ import annotations

import pytest

from isicseg.engine import TrainerConfig
from isicseg.exceptions import ConfigError


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"device": "gpu"}, r"TrainerConfig.device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got 'gpu'"),
        ({"seed": -3}, r"TrainerConfig.seed must be an int >= 0; got -3"),
    ],
)
def test_trainer_settings_checked_when_made(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainerConfig(**kwargs)
