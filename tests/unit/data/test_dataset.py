from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from isicseg import ISIC2017Dataset
from isicseg.data.layout import split_paths
from isicseg.exceptions import ConfigError, DatasetError
from isicseg.ops import masks_to_boxes

from ...conftest import MINI_ROOT, SAMPLE_ROOT


def test_items_follow_torchvision_detection_contract(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "train")
    image, target = ds[0]
    assert isinstance(image, tv_tensors.Image) and image.dtype == torch.float32
    assert image.shape == (3, 96, 128) and 0 <= image.min() and image.max() <= 1
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY and target["boxes"].dtype == torch.float32
    assert target["boxes"].canvas_size == (96, 128)
    assert isinstance(target["masks"], tv_tensors.Mask) and target["masks"].dtype == torch.uint8
    assert target["masks"].shape == (1, 96, 128)
    assert target["labels"].dtype == torch.int64 and target["labels"].shape == (1,)
    assert target["image_id"] == ds.image_ids[0]
    assert target["area"].item() == target["masks"].sum().item()
    assert target["iscrowd"].tolist() == [0]


def test_boxes_are_tight_boxes_of_masks(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "train", image_size=64)
    for i in range(len(ds)):
        _, target = ds[i]
        mask = target["masks"][0].numpy()
        rows, cols = np.nonzero(mask)
        assert target["boxes"][0].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_mask_matches_file_on_disk(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "validation")
    _, target = ds[1]
    on_disk = np.asarray(Image.open(ds.records[1].mask_path)) == 255
    assert np.array_equal(target["masks"][0].numpy().astype(bool), on_disk)


def test_label_schemes(synthetic_root):
    binary = ISIC2017Dataset(synthetic_root, "train", label_scheme="binary")
    three = ISIC2017Dataset(synthetic_root, "train", label_scheme="three_class")
    expected_binary = {"nevus": 1, "seborrheic_keratosis": 1, "melanoma": 2}
    expected_three = {"nevus": 1, "seborrheic_keratosis": 2, "melanoma": 3}
    assert binary.labels == [expected_binary[d] for d in binary.diagnoses]
    assert three.labels == [expected_three[d] for d in three.diagnoses]
    assert three[0][1]["labels"].item() == expected_three[three.diagnoses[0]]


def test_real_files_in_tests_data():
    train = ISIC2017Dataset(MINI_ROOT, "train", label_scheme="three_class")
    val = ISIC2017Dataset(MINI_ROOT, "validation", label_scheme="three_class")
    assert train.diagnoses == ["nevus", "nevus", "melanoma", "melanoma"]
    assert val.diagnoses == ["seborrheic_keratosis", "seborrheic_keratosis"]
    for ds in (train, val):
        for i in range(len(ds)):
            image, target = ds[i]
            assert image.shape[-2:] == target["masks"].shape[-2:] == (128, 171)
            assert target["boxes"].tolist() == masks_to_boxes(target["masks"].as_subclass(torch.Tensor)).tolist()


@pytest.mark.skipif(not SAMPLE_ROOT.is_dir(), reason="shared/isic2017-sample is not beside the checkout")
def test_shared_sample_official_labels():
    train = ISIC2017Dataset(SAMPLE_ROOT, "train", image_size=96)
    val = ISIC2017Dataset(SAMPLE_ROOT, "validation", image_size=96, label_scheme="three_class")
    assert len(train) == 13 and len(val) == 3
    melanoma = {"ISIC_0000148", "ISIC_0000283", "ISIC_0000313", "ISIC_0000390", "ISIC_0000552"}
    assert {i for i, label in zip(train.image_ids, train.labels) if label == 2} == melanoma
    assert train.class_counts() == {"benign": 8, "melanoma": 5}
    assert val.class_counts() == {"nevus": 0, "seborrheic_keratosis": 3, "melanoma": 0}
    for ds in (train, val):
        for i in range(len(ds)):
            _, target = ds[i]
            assert target["boxes"].tolist() == masks_to_boxes(target["masks"].as_subclass(torch.Tensor)).tolist()


def test_get_height_and_width_matches_items(synthetic_root):
    ds = ISIC2017Dataset(MINI_ROOT, "train", image_size=50)
    for i in range(len(ds)):
        assert ds.get_height_and_width(i) == tuple(ds[i][0].shape[-2:])


def test_subset_is_seeded(synthetic_root):
    a = ISIC2017Dataset(synthetic_root, "train", subset=4, seed=1)
    b = ISIC2017Dataset(synthetic_root, "train", subset=4, seed=1)
    c = ISIC2017Dataset(synthetic_root, "train", subset=4, seed=2)
    assert a.image_ids == b.image_ids and len(a) == 4
    assert a.image_ids != c.image_ids
    assert len(ISIC2017Dataset(synthetic_root, "train", subset=0.5)) == 5
    assert set(a.image_ids) <= set(ISIC2017Dataset(synthetic_root, "train").image_ids)


@pytest.mark.parametrize(
    ("subset", "match"),
    [(0, "outside 1..10"), (11, "outside 1..10"), (1.5, r"lie in \(0, 1\]"), ("3", "must be a count")],
)
def test_subset_errors(synthetic_root, subset, match):
    with pytest.raises(ConfigError, match=match):
        ISIC2017Dataset(synthetic_root, "train", subset=subset)


def test_repr_and_counts(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "train", image_size=64)
    counts = ds.class_counts()
    assert sum(counts.values()) == len(ds) == 10
    assert counts["melanoma"] == ds.diagnoses.count("melanoma")
    assert repr(ds).startswith("ISIC2017Dataset(") and "n=10" in repr(ds) and "image_size=64" in repr(ds)


def test_empty_mask_error_or_keep(mini_root):
    mask_path = split_paths(mini_root, "train").mask_of("ISIC_0000062")
    size = Image.open(mask_path).size
    Image.new("L", size).save(mask_path)
    with pytest.raises(DatasetError, match=r"ISIC_0000062_segmentation.png is empty .* empty_masks='keep'"):
        ISIC2017Dataset(mini_root, "train")[0]
    _, target = ISIC2017Dataset(mini_root, "train", empty_masks="keep")[0]
    assert (
        target["boxes"].shape == (0, 4) and target["masks"].shape == (0, *size[::-1]) and target["labels"].numel() == 0
    )


def test_bad_empty_masks_option(mini_root):
    with pytest.raises(ConfigError, match="empty_masks must be 'error' or 'keep', got 'drop'"):
        ISIC2017Dataset(mini_root, "train", empty_masks="drop")


def test_mask_size_mismatch_names_both_files(mini_root):
    mask_path = split_paths(mini_root, "train").mask_of("ISIC_0000094")
    Image.new("L", (170, 128)).save(mask_path)
    with pytest.raises(
        DatasetError, match=r"ISIC_0000094_segmentation.png is 170x128 but its image .*ISIC_0000094.jpg is 171x128"
    ):
        ISIC2017Dataset(mini_root, "train")[1]


def test_construction_error_counts_other_problems(mini_root):
    paths = split_paths(mini_root, "train")
    paths.mask_of("ISIC_0000062").unlink()
    paths.mask_of("ISIC_0000094").unlink()
    with pytest.raises(DatasetError, match=r"ISIC_0000062.jpg has no mask.*and 1 more problems; `isicseg check"):
        ISIC2017Dataset(mini_root, "train")


def test_grayscale_and_cmyk_images_are_read_as_rgb(mini_root):
    paths = split_paths(mini_root, "train")
    Image.open(paths.images / "ISIC_0000062.jpg").convert("L").save(paths.images / "ISIC_0000062.jpg")
    Image.open(paths.images / "ISIC_0000094.jpg").convert("CMYK").save(paths.images / "ISIC_0000094.jpg")
    ds = ISIC2017Dataset(mini_root, "train")
    gray, _ = ds[0]
    assert gray.shape == (3, 128, 171) and torch.equal(gray[0], gray[1])
    cmyk, _ = ds[1]
    assert cmyk.shape == (3, 128, 171) and cmyk.std() > 0.01


def test_works_with_dataloader(synthetic_root):
    ds = ISIC2017Dataset(synthetic_root, "train", image_size=48)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=lambda b: tuple(zip(*b)))
    images, targets = next(iter(loader))
    assert len(images) == 3 and [t["image_id"] for t in targets] == ds.image_ids[:3]


def test_mask_cache_returns_identical_masks_without_rereading(mini_root):
    cached = ISIC2017Dataset(mini_root, "train", image_size=64)
    uncached = ISIC2017Dataset(mini_root, "train", image_size=64, cache_masks=False)
    first = [cached[i][1]["masks"] for i in range(len(cached))]
    for record in cached.records:
        record.mask_path.unlink()  # a second read must come from memory
    for i in range(len(cached)):
        assert torch.equal(cached[i][1]["masks"], first[i])
    with pytest.raises(DatasetError, match="does not exist"):
        uncached[0]
