from __future__ import annotations

import pytest

from isicseg.data.layout import read_ground_truth, scan_split, split_paths
from isicseg.exceptions import ConfigError, DatasetError, DatasetNotFoundError, DataWarning


def write_csv(tmp_path, text):
    path = tmp_path / "gt.csv"
    path.write_text(text)
    return path


def test_reads_official_values(tmp_path):
    csv = write_csv(
        tmp_path,
        "image_id,melanoma,seborrheic_keratosis\nISIC_0000001,1.0,0.0\nISIC_0000002,0.0,1.0\nISIC_0000003,0,0\n",
    )
    assert read_ground_truth(csv) == {
        "ISIC_0000001": "melanoma",
        "ISIC_0000002": "seborrheic_keratosis",
        "ISIC_0000003": "nevus",
    }


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("image_id,melanoma\nISIC_0000001,1.0\n", r"lacks the columns \['seborrheic_keratosis'\]"),
        (
            "image_id,melanoma,seborrheic_keratosis\nISIC_0000001,yes,0.0\n",
            r"line 2: column 'melanoma' is 'yes'; expected 0.0 or 1.0",
        ),
        ("image_id,melanoma,seborrheic_keratosis\nISIC_0000001,0.5,0.0\n", r"is '0.5'; expected 0.0 or 1.0"),
        ("image_id,melanoma,seborrheic_keratosis\nISIC_0000001,,0.0\n", r"is ''; expected"),
        ("image_id,melanoma,seborrheic_keratosis\nISIC_0000001,1.0,1.0\n", r"both melanoma and seborrheic_keratosis"),
        (
            "image_id,melanoma,seborrheic_keratosis\nISIC_0000001,1.0,0.0\nISIC_0000001,1.0,0.0\n",
            r"line 3: image id 'ISIC_0000001' appears twice",
        ),
        ("", r"not a readable CSV"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, text, match):
    csv = write_csv(tmp_path, text)
    with pytest.raises(DatasetError, match=match) as info:
        read_ground_truth(csv)
    assert str(csv) in str(info.value)


def test_missing_csv(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="gt.csv does not exist"):
        read_ground_truth(tmp_path / "gt.csv")


def test_unknown_split_lists_available(tmp_path):
    with pytest.raises(ConfigError, match="Unknown split 'val'. Available: train, validation, test"):
        split_paths(tmp_path, "val")


def test_missing_root_shows_layout(tmp_path):
    with pytest.raises(
        DatasetNotFoundError, match=r"(?s)does not exist. Expected layout:.*ISIC-2017_Training_Data/ISIC_0000000.jpg"
    ):
        scan_split(tmp_path / "nowhere", "train")


@pytest.mark.parametrize("missing", ["images", "masks", "csv"])
def test_missing_split_parts_show_layout(mini_root, missing):
    paths = split_paths(mini_root, "validation")
    target = getattr(paths, missing)
    if missing == "csv":
        target.unlink()
    else:
        import shutil

        shutil.rmtree(target)
    with pytest.raises(
        DatasetNotFoundError, match=r"(?s)validation split's .* does not exist. Expected layout:.*Part3_GroundTruth.csv"
    ):
        scan_split(mini_root, "validation")


def test_missing_mask_and_row_are_problems(mini_root):
    paths = split_paths(mini_root, "train")
    paths.mask_of("ISIC_0000062").unlink()
    lines = paths.csv.read_text().splitlines()
    paths.csv.write_text("\n".join(line for line in lines if not line.startswith("ISIC_0000094")) + "\n")
    records, problems = scan_split(mini_root, "train")
    assert [r.image_id for r in records] == ["ISIC_0000148", "ISIC_0000283"]
    assert len(problems) == 2
    assert "ISIC_0000062.jpg has no mask: expected" in str(problems[0])
    assert "ISIC_0000094.jpg has no row in" in str(problems[1])


def test_extra_csv_row_warns_and_is_ignored(mini_root):
    paths = split_paths(mini_root, "train")
    with paths.csv.open("a") as f:
        f.write("ISIC_0000999,1.0,0.0\n")
    with pytest.warns(DataWarning, match=r"1 rows for images that are not in .* \(e.g. ISIC_0000999\)"):
        records, problems = scan_split(mini_root, "train")
    assert len(records) == 4 and not problems


def test_superpixels_and_metadata_are_ignored(mini_root):
    paths = split_paths(mini_root, "train")
    (paths.images / "ISIC_0000062_superpixels.png").write_bytes(b"x")
    (paths.images / "ISIC-2017_Training_Data_metadata.csv").write_text("image_id,age\n")
    records, problems = scan_split(mini_root, "train")
    assert len(records) == 4 and not problems
