"""The tuned-head cross-validation's smoke run: the frozen head and each tuned head are scored, on the detector's inputs."""

from __future__ import annotations

import pytest
import torch

from ..helpers import import_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_batch_tensor_hands_the_head_what_the_detectors_transform_would():
    cv = import_benchmark("cv_tuned_head", "isic2017-train-256sq", "ham10000-200")
    ham, isic = torch.rand(3, 150, 200), torch.rand(3, 256, 256)
    batch, sizes, boxes = cv.batch_tensor([ham, isic], torch.tensor([[20.0, 30, 120, 90], [0, 0, 256, 256]]))
    assert batch.shape == (2, 3, 256, 341) and sizes == [(256, 341), (256, 256)]
    torch.testing.assert_close(
        boxes[0], torch.tensor([20 * 341 / 200, 30 * 256 / 150, 120 * 341 / 200, 90 * 256 / 150])
    )
    torch.testing.assert_close(boxes[1], torch.tensor([0.0, 0, 256, 256]))
    assert float(batch[1, :, :, 256:].abs().max()) == 0.0  # padding, as the detector pads a batch


def test_cv_tuned_head_quick(tmp_path, monkeypatch):
    cv = import_benchmark("cv_tuned_head", "isic2017-train-256sq", "ham10000-200", "weights/mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # the script points it at its own copy; restored after
    table = cv.main(["--quick"])
    names = table["head (fold 0, 320 scored)"].tolist()
    assert len(names) == 10 and names[0] == "lesion_crop (frozen), ISIC 2017"
    assert sum(name.startswith("lesion_crop_tuned") for name in names) == 9
    assert sum(name.endswith("; its features + regression on ISIC 2017") for name in names) == 3
    assert sum(name.endswith("; frozen and tuned features + regression on ISIC 2017") for name in names) == 3
    for column in ("mel AUC", "sk AUC"):
        assert table[column].between(0, 1).all()
    low_high = table["mel 95% CI"].str.split("-", expand=True).astype(float)
    assert ((low_high[0] <= table["mel AUC"]) & (table["mel AUC"] <= low_high[1])).all()
