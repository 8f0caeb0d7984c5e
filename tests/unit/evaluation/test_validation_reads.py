"""ISIC validation in a run: each image and each mask file decoded once per epoch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

import isicseg.data.dataset as dataset_module
from isicseg import ISIC2017Dataset, Trainer, TrainerConfig, build_mask_rcnn
from isicseg.evaluation import IsicEvaluator
from isicseg.models import FEW_PROPOSALS


@pytest.mark.slow
def test_each_validation_file_is_decoded_once_per_epoch(synthetic_root, monkeypatch):
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    val = ISIC2017Dataset(synthetic_root, "validation", image_size=64, subset=2)
    images, masks = Counter(), Counter()
    read_image, read_mask = dataset_module.read_image, dataset_module.read_mask
    monkeypatch.setattr(
        dataset_module, "read_image", lambda p, *a, **k: images.update([Path(p)]) or read_image(p, *a, **k)
    )
    monkeypatch.setattr(
        dataset_module, "read_mask", lambda p, *a, **k: masks.update([Path(p)]) or read_mask(p, *a, **k)
    )
    torch.manual_seed(0)
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, label_scheme="binary", **FEW_PROPOSALS
    )
    config = TrainerConfig(epochs=2, batch_size=2, eval_batch_size=2, num_workers=0, warmup_steps=0)
    history = Trainer(config, evaluator=IsicEvaluator(val)).fit(model, train, val)
    assert len(history) == 2 and all(0 <= row["val_jaccard"] <= 1 for row in history)
    for record in val.records:
        assert images[record.image_path] == 2  # one decode an epoch, for its loss and its answer
        # epoch 1: the training-size target and the full-resolution truth; epoch 2: the truth only
        # (the training-size mask is cached, cache_masks=True)
        assert masks[record.mask_path] == 3
