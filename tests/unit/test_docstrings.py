"""Every public function and class the site documents describes its arguments and shows an example."""

from __future__ import annotations

import inspect

import pytest

import isicseg
from isicseg import callbacks, metrics

DOCUMENTED = [
    isicseg.ISIC2017Dataset,
    isicseg.build_mask_rcnn,
    isicseg.Trainer,
    isicseg.TrainerConfig,
    isicseg.evaluate,
    isicseg.predict,
    isicseg.check_dataset,
    isicseg.write_synthetic_isic,
    isicseg.load_model,
    *(getattr(callbacks, n) for n in callbacks.__all__ if n not in ("CALLBACKS", "Callback")),
    *(getattr(metrics, n) for n in metrics.__all__ if callable(getattr(metrics, n)) and n != "METRICS"),
]


@pytest.mark.parametrize("obj", DOCUMENTED, ids=lambda o: o.__name__)
def test_has_arguments_and_example(obj):
    doc = inspect.getdoc(obj) or ""
    parameters = [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
    assert "Example" in doc, f"{obj.__name__} has no Example section"
    if parameters:
        assert "Args:" in doc, f"{obj.__name__} takes {parameters} but documents no Args"
        for name in parameters:
            assert f"{name}:" in doc or f"{name} " in doc.split("Args:")[1], (
                f"{obj.__name__}: argument {name!r} is not described"
            )
