"""The speed benchmark's smoke run: every mode trains and predicts, the tables hold sane ratios and shares."""

from __future__ import annotations

import numpy as np
import pytest

from ..helpers import import_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_speed_quick(tmp_path, monkeypatch):
    bench_speed = import_benchmark(
        "bench_speed", "isic2017-train-256sq", "isic2017-sample", "weights/mobilenet_v2-b0353104.pth"
    )
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # the benchmark points it at its own copy; restored after
    tables = bench_speed.main(["--quick", "--skip-quality", "--out", str(tmp_path)])
    train, predict = tables["train"], tables["predict"]
    assert list(train.index) == list(bench_speed.MODES) and train.loc["fp32", "x fp32"] == 1.0
    assert (train["images/s"] > 0).all() and np.allclose(
        train["images/s"] * train["s/step"], 4
    )  # batch 4 of the recipe
    assert (
        list(predict.index) == [bench_speed.BEFORE, *bench_speed.MODES]
        and predict.loc[bench_speed.BEFORE, "x before"] == 1.0
    )
    shares = predict[["decode %", "model %", "upsample %", "write %"]].sum(axis=1)
    assert np.allclose(shares, 100) and (predict["model"] > 0).all()
    for folder in ("fp32", "fp32_0.2_writer", "bf16+channels_last"):
        assert len(list((tmp_path / "predict" / folder).glob("*_segmentation.png"))) == 4
        assert len(list((tmp_path / "predict" / folder).glob("ISIC_???????.png"))) == 4  # one overlay per image
    assert (tmp_path / "train.csv").is_file() and (tmp_path / "predict.csv").is_file()
