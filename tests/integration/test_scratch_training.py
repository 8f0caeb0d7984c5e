"""Training from scratch must give a model whose *eval-mode* predictions work.

With plain BatchNorm, batch-2 training learns wrong running statistics and eval-mode
masks collapse (measured here: eval Jaccard 0.03 after the same 60 steps on which
GroupNorm reaches 0.85). ``build_mask_rcnn(pretrained=False)`` must therefore pick a
normalisation that survives; this test checks eval-mode quality, not the loss.
"""

from __future__ import annotations

import pytest
import torch

from isicseg import ISIC2017Dataset, build_mask_rcnn
from isicseg.metrics import jaccard_index
from isicseg.models import FEW_PROPOSALS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_scratch_model_predicts_well_in_eval_mode(tmp_path):
    from isicseg import write_synthetic_isic

    torch.manual_seed(0)
    root = write_synthetic_isic(tmp_path, num_images={"train": 8}, image_size=(96, 128))
    ds = ISIC2017Dataset(root, "train")
    model = build_mask_rcnn(3, pretrained=False, backbone="resnet18_fpn", min_size=96, max_size=128, **FEW_PROPOSALS)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(60):
        images, targets = zip(*(ds[i] for i in torch.randperm(len(ds), generator=generator)[:2].tolist()))
        loss = sum(model(list(images), list(targets)).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    scores = []
    with torch.no_grad():
        for i in range(len(ds)):
            image, target = ds[i]
            (out,) = model([image])
            predicted = out["masks"][0, 0] > 0.5 if len(out["scores"]) else torch.zeros(image.shape[-2:], dtype=torch.bool)
            scores.append(jaccard_index(predicted, target["masks"][0]))
    mean = sum(scores) / len(scores)
    assert mean > 0.7, f"eval-mode mean Jaccard {mean:.3f}: eval predictions collapsed"
