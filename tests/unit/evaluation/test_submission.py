"""ISIC submission files: written and scored."""

from __future__ import annotations

import pytest
from PIL import Image

from isicseg.data.layout import split_paths
from isicseg.evaluation import score_submission
from isicseg.exceptions import DatasetError

from ...conftest import MINI_ROOT


def test_classification_csv_missing_rows(tmp_path):
    paths = split_paths(MINI_ROOT, "validation")
    masks = tmp_path / "masks"
    masks.mkdir()
    for image in paths.images.glob("*.jpg"):
        Image.open(paths.mask_of(image.stem)).save(masks / f"{image.stem}_segmentation.png")
    (tmp_path / "c.csv").write_text("image_id,melanoma,seborrheic_keratosis\nISIC_0014568,0.1,0.9\n")
    with pytest.raises(DatasetError, match=r"c.csv has no row for 1 images \(e.g. ISIC_0014620\)"):
        score_submission(masks, tmp_path / "c.csv", data_root=MINI_ROOT, split="validation")
