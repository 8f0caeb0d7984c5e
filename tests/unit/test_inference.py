from __future__ import annotations

import math

import numpy as np
import torch

from isicseg.inference import answer_from_detections, upsample_mask


def detections(scores, labels, size=(8, 10)):
    n = len(scores)
    masks = torch.zeros(n, 1, *size)
    boxes = []
    for i in range(n):
        masks[i, 0, i : i + 2, i : i + 3] = 0.9
        boxes.append([i, i, i + 3, i + 2])
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.int64),
            "scores": torch.tensor(scores), "masks": masks}


def test_no_detection_gives_empty_answer():
    answer = answer_from_detections(detections([], []), "three_class", "x", (16, 20))
    assert answer.mask.shape == (16, 20) and not answer.mask.any()
    assert answer.box is None and answer.label == 0 and answer.score == 0.0
    assert answer.probabilities == {"melanoma": 0.0, "seborrheic_keratosis": 0.0}


def test_top_scoring_detection_gives_mask_box_and_class():
    answer = answer_from_detections(detections([0.3, 0.8, 0.6], [3, 1, 2]), "three_class", "x")
    assert answer.label == 1 and answer.score == np.float32(0.8)
    assert answer.box == (1.0, 1.0, 4.0, 3.0)
    assert answer.mask.sum() == 6 and answer.mask[1:3, 1:4].all()
    assert answer.probabilities["melanoma"] == np.float32(0.3)
    assert answer.probabilities["seborrheic_keratosis"] == np.float32(0.6)


def test_category_probability_is_max_of_its_label():
    answer = answer_from_detections(detections([0.2, 0.7, 0.4], [2, 1, 2]), "binary", "x")
    assert answer.probabilities["melanoma"] == np.float32(0.4)
    assert math.isnan(answer.probabilities["seborrheic_keratosis"])  # merged with nevus in binary


def test_box_and_mask_scale_to_original_size():
    answer = answer_from_detections(detections([0.9], [1]), "binary", "x", (16, 20))
    assert answer.box == (0.0, 0.0, 6.0, 4.0)
    assert answer.mask.shape == (16, 20) and answer.mask.sum() == 24


def test_upsample_mask_threshold():
    probabilities = torch.tensor([[0.2, 0.8]])
    assert upsample_mask(probabilities, (1, 2)).tolist() == [[False, True]]
    assert upsample_mask(probabilities, (2, 4)).tolist() == [[False, False, True, True]] * 2
