from __future__ import annotations

import pytest
import torch

from isicseg import build_mask_rcnn
from isicseg.models import FEW_PROPOSALS


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """An untrained three_class checkpoint (4 classes): enough to run predict and evaluate end to end."""
    torch.manual_seed(0)
    model = build_mask_rcnn(4, backbone="resnet18_fpn", min_size=64, max_size=96, **FEW_PROPOSALS)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(
        {"model": model.state_dict(), "identity": model.identity.replace(label_scheme="three_class").to_dict()},
        path,
    )
    return path
