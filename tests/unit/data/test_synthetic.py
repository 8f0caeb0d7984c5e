from __future__ import annotations

import hashlib

import numpy as np
import pytest

from isicseg import ISIC2017Dataset
from isicseg.data.synthetic import render_lesion, write_synthetic_isic
from isicseg.exceptions import ConfigError


def digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_deterministic(tmp_path):
    counts = {"train": 5, "test": 2}
    a = write_synthetic_isic(tmp_path / "a", num_images=counts, image_size=(48, 64), seed=3)
    b = write_synthetic_isic(tmp_path / "b", num_images=counts, image_size=(48, 64), seed=3)
    c = write_synthetic_isic(tmp_path / "c", num_images=counts, image_size=(48, 64), seed=4)
    assert digest(a) == digest(b) != digest(c)


def test_layout_and_class_shares(tmp_path):
    root = write_synthetic_isic(tmp_path, num_images={"train": 100, "validation": 10, "test": 10}, image_size=(32, 40))
    train = ISIC2017Dataset(root, "train", label_scheme="three_class")
    assert train.class_counts() == {"nevus": 68, "seborrheic_keratosis": 13, "melanoma": 19}
    ids = (
        set(train.image_ids)
        | set(ISIC2017Dataset(root, "validation").image_ids)
        | set(ISIC2017Dataset(root, "test").image_ids)
    )
    assert len(ids) == 120  # ids are unique across splits


def _irregularity(mask):
    """Perimeter^2 / (4 pi area): 1 for a disc, larger for ragged outlines."""
    m = mask > 0
    perimeter = np.count_nonzero(m[1:] != m[:-1]) + np.count_nonzero(m[:, 1:] != m[:, :-1])
    return perimeter**2 / (4 * np.pi * m.sum())


def test_classes_differ_like_real_lesions():
    stats = {}
    for diagnosis in ("nevus", "seborrheic_keratosis", "melanoma"):
        rows = []
        for seed in range(12):
            image, mask = render_lesion(diagnosis, 128, 160, rng=seed)
            lesion = image[mask > 0].astype(float)
            rows.append((_irregularity(mask), lesion.mean(), lesion.std(axis=0).mean()))
        stats[diagnosis] = np.mean(rows, axis=0)
    # melanoma: most irregular border and most colour variation
    assert stats["melanoma"][0] > stats["nevus"][0] and stats["melanoma"][0] > stats["seborrheic_keratosis"][0]
    assert stats["melanoma"][2] > stats["nevus"][2]
    # seborrheic keratosis: lighter than a nevus
    assert stats["seborrheic_keratosis"][1] > stats["nevus"][1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_images": {"val": 3}}, r"Unknown splits \['val'\] in num_images; allowed: train, validation, test"),
        ({"image_size": (8, 64)}, r"image_size must be \(height, width\), each an int in 16..4096; got \(8, 64\)"),
    ],
)
def test_errors(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        write_synthetic_isic(tmp_path, **kwargs)


def test_unknown_diagnosis():
    with pytest.raises(ConfigError, match="Unknown diagnosis 'naevus'"):
        render_lesion("naevus")
