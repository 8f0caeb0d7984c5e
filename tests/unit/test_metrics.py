"""Hand-computed cases for every metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from isicseg import metrics as M


def test_confusion_counts_and_segmentation_scores_by_hand():
    pred = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], np.uint8)
    true = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.uint8)
    assert [int(v) for v in M.confusion_counts(pred, true)] == [2, 1, 1, 4]
    assert M.jaccard_index(pred, true) == pytest.approx(2 / 4)
    assert M.dice_coefficient(pred, true) == pytest.approx(4 / 6)
    assert M.pixel_accuracy(pred, true) == pytest.approx(6 / 8)
    assert M.pixel_sensitivity(pred, true) == pytest.approx(2 / 3)
    assert M.pixel_specificity(pred, true) == pytest.approx(4 / 5)
    assert M.thresholded_jaccard(pred, true) == 0.0  # 0.5 < 0.65
    assert M.thresholded_jaccard(true, true) == 1.0


def test_threshold_boundary_is_inclusive():
    true = np.zeros((1, 20), np.uint8)
    true[0, :20] = 1
    pred = true.copy()
    pred[0, 13:] = 0  # Jaccard 13/20 = 0.65 exactly
    assert M.thresholded_jaccard(pred, true) == pytest.approx(0.65)


def test_both_masks_empty():
    empty = np.zeros((3, 3), np.uint8)
    assert M.jaccard_index(empty, empty) == 1.0
    assert M.dice_coefficient(empty, empty) == 1.0
    assert M.pixel_sensitivity(empty, empty) == 1.0
    assert M.pixel_specificity(empty, empty) == 1.0
    full = np.ones((3, 3), np.uint8)
    assert M.jaccard_index(full, empty) == 0.0 and M.dice_coefficient(empty, full) == 0.0


def test_128_is_background_129_is_foreground():
    pred = np.array([[128, 129, 255, 0]], np.uint8)
    true = np.array([[255, 255, 255, 0]], np.uint8)
    assert M.as_binary_mask(pred).tolist() == [[False, True, True, False]]
    assert M.jaccard_index(pred, true) == pytest.approx(2 / 3)


def test_stacks_give_per_image_arrays_and_torch_works():
    pred = torch.tensor([[[1, 0], [0, 0]], [[1, 1], [1, 1]]], dtype=torch.uint8)
    true = torch.tensor([[[1, 0], [0, 0]], [[1, 0], [0, 0]]], dtype=torch.uint8)
    assert M.jaccard_index(pred, true).tolist() == [1.0, 0.25]
    scores = M.segmentation_scores(pred, true)
    assert set(scores) == {
        "jaccard",
        "dice",
        "thresholded_jaccard",
        "pixel_accuracy",
        "pixel_sensitivity",
        "pixel_specificity",
    }


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape; got \(2, 2\) and \(2, 3\)"):
        M.jaccard_index(np.zeros((2, 2)), np.zeros((2, 3)))


def test_auc_by_hand_with_ties():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1) = 3.5/4
    assert M.roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]) == pytest.approx(3.5 / 4)
    assert M.roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert M.roc_auc([1, 0], [0.0, 1.0]) == 0.0


def test_auc_one_class_is_nan():
    assert math.isnan(M.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(M.roc_auc([0, 0], [0.2, 0.5]))
    assert math.isnan(M.average_precision([0, 0], [0.2, 0.5]))
    assert math.isnan(M.specificity_at_sensitivity([1, 1], [0.2, 0.5], sensitivity=0.82))


def test_average_precision_by_hand_and_with_ties():
    # ranking: + - + -  -> P at each recall step: 1/1, 2/3  -> AP = 0.5*1 + 0.5*2/3
    assert M.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 1 / 3)
    # a tie between a positive and a negative at the top enters together: P = 1/2 at R = 1/2
    assert M.average_precision([1, 0, 1], [0.9, 0.9, 0.5]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_specificity_at_sensitivity_by_hand():
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.2, 0.6, 0.3, 0.1, 0.05]
    # sensitivity >= 0.82 needs all 4 positives: threshold 0.2 -> negatives above: 0.6, 0.3 -> spec 2/4
    assert M.specificity_at_sensitivity(y, s, sensitivity=0.82) == 0.5
    # sensitivity >= 0.75 reached at threshold 0.7 with no negative above -> spec 1
    assert M.specificity_at_sensitivity(y, s, sensitivity=0.75) == 1.0


def test_threshold_scores_by_hand():
    y = [1, 1, 0, 0, 0]
    s = [0.9, 0.5, 0.7, 0.2, 0.51]
    scores = M.binary_classification_scores(y, s)  # called positive: 0.9, 0.7, 0.51 (0.5 is not > 0.5)
    assert scores["sensitivity"] == 0.5
    assert scores["specificity"] == pytest.approx(1 / 3)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(2 / 5)
    assert set(scores) >= {"auc", "average_precision", "spec_at_sens_82", "spec_at_sens_89", "spec_at_sens_95"}
    none_called = M.binary_classification_scores([1, 0], [0.1, 0.2])
    assert none_called["precision"] == 0.0 and none_called["sensitivity"] == 0.0


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [([1, 0], [0.5], "same length"), ([2, 0], [0.5, 0.1], "only 0 and 1"), ([1, 0], [np.nan, 0.1], "finite")],
)
def test_classification_input_errors(y, s, match):
    with pytest.raises(ValueError, match=match):
        M.roc_auc(y, s)


def test_box_and_mask_iou_by_hand():
    assert float(M.box_iou([[0, 0, 4, 4]], [[2, 0, 6, 4]])) == pytest.approx(8 / 24)
    assert float(M.box_iou([[0, 0, 0, 4]], [[0, 0, 0, 4]])) == 0.0  # no area: 0, not nan
    a = np.zeros((1, 4, 4), np.uint8)
    a[0, :2, :2] = 1
    b = np.zeros((1, 4, 4), np.uint8)
    b[0, 1:3, 1:3] = 1
    assert float(M.mask_iou(a, b)) == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="share their height and width"):
        M.mask_iou(a, np.zeros((1, 3, 4)))


def test_registered_metric_becomes_a_column(synthetic_root):
    def lesion_pixels(pred, target):
        return float(M.as_binary_mask(pred).sum())

    M.METRICS.register("lesion_pixels", lesion_pixels)
    try:
        scores = M.segmentation_scores([[1, 1, 0]], [[1, 0, 0]])
        assert scores["lesion_pixels"] == 2.0 and scores["jaccard"] == 0.5
    finally:
        M.METRICS.unregister("lesion_pixels")


def test_no_cases_give_nan_not_an_error():
    fpr, tpr, thresholds = M.roc_curve([], [])
    assert np.isnan(fpr).all() and np.isnan(tpr).all() and thresholds.tolist() == [np.inf]
    scores = M.binary_classification_scores([], [])
    assert all(
        np.isnan(scores[k])
        for k in ("auc", "average_precision", "accuracy", "sensitivity", "specificity", "spec_at_sens_89")
    )


@pytest.mark.parametrize("sensitivity", [1.5, -0.1, "0.9", True])
def test_sensitivity_outside_0_1_is_refused(sensitivity):
    with pytest.raises(ValueError, match=rf"sensitivity must be a number in \[0, 1\]; got {sensitivity!r}"):
        M.specificity_at_sensitivity([0, 1], [0.2, 0.8], sensitivity=sensitivity)


@pytest.mark.parametrize(
    "boxes, match",
    [
        ([[0, 0, 1]], r"boxes1 must be \(N, 4\) boxes .*; got shape \(1, 3\)"),
        ([[0, 0, 1, 1], [1, 2]], r"boxes1 must be \(N, 4\) boxes .* of numbers; got \[\[0, 0, 1, 1\], \[1, 2\]\]"),
        (np.zeros((2, 2, 4)), r"got shape \(2, 2, 4\)"),
    ],
)
def test_malformed_boxes_are_refused(boxes, match):
    with pytest.raises(ValueError, match=match):
        M.box_iou(boxes, [[0, 0, 1, 1]])
    assert M.box_iou([0, 0, 2, 2], [[0, 0, 2, 2]]).tolist() == [[1.0]]  # one box as (4,)


@pytest.mark.parametrize(
    ("mask", "shown"),
    [
        (np.array([[0, 2], [2, 0]]), "2"),
        (np.array([[0, -1], [1, 0]], np.int16), "-1"),
        (np.array([[0.0, float("nan")], [1.0, 0.0]]), "nan"),
        (np.array([[0.0, 1.5], [1.0, 0.0]]), "1.5"),
        (torch.tensor([[0, 3], [1, 0]]), "3"),
    ],
)
def test_masks_with_values_that_are_not_mask_values_are_refused_not_read_as_empty(mask, shown):
    from isicseg.exceptions import ConfigError

    good = np.array([[0, 1], [1, 0]], np.uint8)
    for call in (
        lambda: M.jaccard_index(mask, good),
        lambda: M.dice_coefficient(mask, good),
        lambda: M.segmentation_scores(mask, good),
    ):
        with pytest.raises(
            ConfigError,
            match=rf"pred holds values that are not mask values \(e.g. {shown}\): expected booleans, integers 0/1",
        ):
            call()
    with pytest.raises(ConfigError, match=r"target holds values that are not mask values"):
        M.jaccard_index(good, mask)


@pytest.mark.parametrize("bad", [None, "mask.png", np.array(["a", "b"])])
def test_metric_inputs_that_are_not_arrays_are_refused(bad):
    from isicseg.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"pred must (be an array or tensor of mask values|hold numbers or booleans)"):
        M.jaccard_index(bad, np.zeros(2, np.uint8))
    with pytest.raises(ConfigError, match=r"y_true must (be an array or tensor|hold numbers)"):
        M.roc_auc(bad, [0.5, 0.5])


def test_an_8bit_mask_with_255_and_a_probability_map_are_still_masks():
    eight_bit = np.array([[0, 255], [200, 100]], np.uint8)
    probabilities = np.array([[0.1, 0.9], [0.6, 0.4]], np.float32)
    assert (
        M.as_binary_mask(eight_bit).tolist()
        == M.as_binary_mask(probabilities).tolist()
        == [[False, True], [True, False]]
    )
