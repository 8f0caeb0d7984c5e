"""Pure metric functions with the ISIC 2017 challenge definitions.

Arrays or tensors in, numbers out, no hidden state. Masks may be boolean, integer or
float:

* boolean masks are taken as they are;
* integer masks holding only 0 and 1 are taken as they are; integer masks of 0-255 in
  which 255 occurs follow the rule for ISIC 8-bit mask files: a pixel is foreground when
  its value is > 128;
* float masks (probabilities in [0, 1]) are foreground where > 0.5;
* anything else (``2`` without a 255, negative values, ``nan``, ``1.5``, strings,
  ``None``) is refused with a :class:`~isicseg.exceptions.ConfigError`, never read as an
  empty mask.

Segmentation scores are per image, from the confusion counts; a dataset's score is the
mean of its images' scores (the Part 1 ranking metric is the mean Jaccard index).
Classification scores take the ground truth (0/1) and a probability per image for one
category; the Part 3 ranking metric is the mean of the melanoma and seborrheic
keratosis AUCs. Where a score is undefined (e.g. AUC when the ground truth holds one
class only) the functions return ``nan`` instead of raising, and summaries report it as
missing.
"""

from .classification import (
    average_precision,
    binary_classification_scores,
    roc_auc,
    roc_curve,
    specificity_at_sensitivity,
)
from .detection import box_iou, mask_iou
from .segmentation import (
    METRICS,
    SEGMENTATION_SCORES,
    as_binary_mask,
    confusion_counts,
    dice_coefficient,
    jaccard_index,
    pixel_accuracy,
    pixel_sensitivity,
    pixel_specificity,
    segmentation_scores,
    thresholded_jaccard,
)

__all__ = [
    "METRICS",
    "SEGMENTATION_SCORES",
    "as_binary_mask",
    "confusion_counts",
    "jaccard_index",
    "dice_coefficient",
    "thresholded_jaccard",
    "pixel_accuracy",
    "pixel_sensitivity",
    "pixel_specificity",
    "segmentation_scores",
    "roc_auc",
    "roc_curve",
    "average_precision",
    "binary_classification_scores",
    "specificity_at_sensitivity",
    "box_iou",
    "mask_iou",
]
