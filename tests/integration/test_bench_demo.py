"""The demo benchmark's smoke run: both runs happen, scores are read back, the ratio is the two times' ratio."""

from __future__ import annotations

import math

import pytest

from ..helpers import import_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_demo_quick(tmp_path, capsys):
    bench_demo = import_benchmark("bench_demo")
    result = bench_demo.main(["--quick", "--out", str(tmp_path)])
    assert 0.0 <= result["jaccard"] <= 1.0 and (
        math.isnan(result["melanoma_auc"]) or 0.0 <= result["melanoma_auc"] <= 1.0
    )
    assert result["ratio"] == pytest.approx(result["baseline_seconds"] / result["demo_seconds"])
    # 1 epoch measured, 7 estimated from it: the estimate exceeds the measured run
    history = bench_demo._epoch_seconds(tmp_path / "baseline")
    assert len(history) == 1 and result["baseline_seconds"] > 7 * history[0]
    assert "baseline / demo wall time" in capsys.readouterr().out
    assert (tmp_path / "demo" / "demo" / "evaluation" / "summary.json").is_file()
