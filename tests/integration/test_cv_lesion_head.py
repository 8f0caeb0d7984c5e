"""The head-variant cross-validation's smoke run: it scores the head's own features, and every variant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ..helpers import SHARED, import_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_cv_lesion_head_quick(tmp_path, monkeypatch):
    cv = import_benchmark("cv_lesion_head", "isic2017-train-256sq", "weights/mobilenet_v2-b0353104.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # the script points it at its own copy; restored after
    table = cv.main(["--limit", "60"])
    assert len(table) == 15 and table.index[0].startswith("today's features")
    assert (
        table["mel AUC"].between(0, 1).all()
        and table["SK AUC"].between(0, 1).all()
        and (table["mel AUC s.e."] >= 0).all()
    )

    # what the script calls today's features are the head's own eval features (one view)
    from isicseg.models.heads import LesionCropClassifier

    head = LesionCropClassifier(0, 4, views=1)
    head.init_weights(download=False)
    images, masks, boxes = cv.load_images(
        SHARED / "isic2017-train-256sq", ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002"]
    )
    with torch.no_grad():
        expected = head.eval().embed(images, image_sizes=[(256, 256)] * 3, boxes=list(boxes))
    got = cv.without_early(cv.features(head, images, masks, boxes)["mean"])
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
