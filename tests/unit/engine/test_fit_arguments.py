"""Trainer.fit refuses what it cannot train on at the call, with isicseg's own error."""

from __future__ import annotations

import pytest

from ...helpers import tiny_model


@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        ("model", None, r"Trainer.fit needs a torch.nn.Module as its model"),
        (
            None,
            [1, 2, 3],
            r"A dataset item is int '[123]'; expected an \(image, target\) pair whose target is a dict with 'boxes' and 'labels'",
        ),
        (None, "images/", r"train_data must be a map-style dataset of \(image, target\) pairs .* got str 'images/'"),
        (None, [], r"train_data holds no item; there is nothing to train on"),
    ],
)
def test_fit_checks_its_arguments_before_anything_starts(tmp_path, model, data, match):
    from isicseg.engine import Trainer, TrainerConfig
    from isicseg.exceptions import ConfigError

    trainer = Trainer(TrainerConfig(epochs=1, batch_size=2, out_dir=str(tmp_path / "run")))
    with pytest.raises(ConfigError, match=match):
        trainer.fit(tiny_model() if model is None else model, data)
    if data != [1, 2, 3]:  # items are checked as the first batch is made, after the run folder exists
        assert not (tmp_path / "run").exists()
