from __future__ import annotations

import numpy as np
from PIL import Image

from isicseg.cli import main
from isicseg.data import check_dataset
from isicseg.data.layout import split_paths


def test_clean_root_is_ok(mini_root):
    report = check_dataset(mini_root)
    assert report.ok and report.counts == {"train": 4, "validation": 2}
    assert report.errors == [] and report.warnings == []


def test_reports_every_problem_at_once(mini_root):
    train = split_paths(mini_root, "train")
    val = split_paths(mini_root, "validation")
    data = (train.images / "ISIC_0000062.jpg").read_bytes()
    (train.images / "ISIC_0000062.jpg").write_bytes(data[: len(data) // 2])  # truncated
    Image.new("L", (10, 10)).save(train.mask_of("ISIC_0000094"))  # wrong size
    mask = np.asarray(Image.open(train.mask_of("ISIC_0000148"))).copy()
    mask[0, 0] = 7
    Image.fromarray(mask).save(train.mask_of("ISIC_0000148"))  # not binary
    val.mask_of("ISIC_0014568").unlink()  # missing mask
    with val.csv.open("a") as f:
        f.write("ISIC_0000999,0.0,0.0\n")  # extra row
    report = check_dataset(mini_root)
    assert not report.ok
    assert len(report.errors) == 4
    text = "\n".join(report.errors)
    for expected in (
        "ISIC_0000062.jpg could not be decoded",
        "ISIC_0000094_segmentation.png is 10x10",
        "ISIC_0000148_segmentation.png is not binary",
        "ISIC_0014568.jpg has no mask",
    ):
        assert expected in text
    assert len(report.warnings) == 1 and "ISIC_0000999" in report.warnings[0]
    assert report.counts == {"train": 1, "validation": 1}


def test_missing_root_and_empty_root(tmp_path):
    assert check_dataset(tmp_path / "nope").errors == [f"Data root {tmp_path / 'nope'} does not exist."]
    report = check_dataset(tmp_path)
    assert not report.ok and "holds no ISIC-2017_<Training|Validation|Test_v2>_Data folder" in report.errors[0]


def test_named_split_that_is_absent(mini_root):
    report = check_dataset(mini_root, ["test"])
    assert not report.ok and "test split's image folder" in report.errors[0]


def test_cli_check_exit_codes(mini_root, capsys):
    assert main(["check", str(mini_root)]) == 0
    assert "OK" in capsys.readouterr().out
    split_paths(mini_root, "train").mask_of("ISIC_0000062").unlink()
    assert main(["check", str(mini_root), "--split", "train"]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "ISIC_0000062.jpg has no mask" in out


def test_check_reports_empty_mask(mini_root):
    mask = split_paths(mini_root, "validation").mask_of("ISIC_0014568")
    Image.new("L", Image.open(mask).size).save(mask)
    report = check_dataset(mini_root, ["validation"])
    assert report.errors == [f"Mask {mask} is empty (no pixel is 255)."]
