"""Public functions check their arguments when called and raise isicseg's own errors, before any work."""

from __future__ import annotations

import pytest

from isicseg import InferenceConfig, ISIC2017Dataset, build_mask_rcnn, evaluate, predict
from isicseg.data.check import check_dataset
from isicseg.data.download import download_isic2017
from isicseg.exceptions import ConfigError, DatasetError, UnknownNameError
from isicseg.models import FEW_PROPOSALS

from ..conftest import MINI_ROOT


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subset": 2, "seed": -1}, r"seed must be an int in 0..2\*\*32-1; got -1"),
        (
            {"transforms": "flip"},
            r"transforms must be callable \(image, target\) -> \(image, target\), or None; got str 'flip'",
        ),
        ({"subset": "10"}, r"subset must be a count \(int\), a fraction \(float in \(0, 1\]\) or None; got '10'"),
        ({"binarize_masks": "yes"}, r"binarize_masks must be True or False; got 'yes'"),
        ({"max_image_pixels": 0}, r"max_image_pixels must be an int >= 1; got 0"),
        ({"cache_masks": None}, r"cache_masks must be True or False; got None"),
    ],
)
def test_dataset_options_of_the_wrong_type_fail_when_the_dataset_is_made(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ISIC2017Dataset(MINI_ROOT, "validation", **kwargs)


def test_a_bad_option_is_refused_before_anything_is_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "isicseg.data.download.download_isic2017", lambda *a, **k: pytest.fail("downloaded before checking")
    )
    for kwargs in ({"label_scheme": "four_class"}, {"subset": "all"}, {"seed": -1}):
        with pytest.raises((ConfigError, UnknownNameError)):
            ISIC2017Dataset(tmp_path / "isic", "validation", download=True, **kwargs)
    with pytest.raises(ConfigError, match=r"Unknown split 'dev'"):
        ISIC2017Dataset(tmp_path / "isic", "dev", download=True)
    assert not (tmp_path / "isic").exists()


def test_one_string_where_a_list_belongs_is_refused(tmp_path):
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, label_scheme="binary", **FEW_PROPOSALS
    )
    with pytest.raises(
        ConfigError, match=r"images must be a list of file paths; got one str, 'photo.jpg' \(pass \['photo.jpg'\]\)"
    ):
        predict(model, "photo.jpg")
    with pytest.raises(ConfigError, match=r"images must be a list of file paths; got one PosixPath"):
        predict(model, tmp_path)
    with pytest.raises(ConfigError, match=r"item 3 is of type int"):
        predict(model, [3])
    with pytest.raises(
        ConfigError, match=r"predict: config must be an isicseg.InferenceConfig; got dict \(\{'tta': True\}\)"
    ):
        predict(model, [tmp_path / "a.jpg"], config={"tta": True})  # at the call, not at the first next()
    with pytest.raises(ConfigError, match=r"precision 'fp16' needs a CUDA device; got device 'cpu'"):
        predict(model, [tmp_path / "a.jpg"], config=InferenceConfig(precision="fp16"), label_scheme="binary")
    with pytest.raises(
        ConfigError, match=r"splits must be a list of names; got one string 'train' \(pass \['train'\]\)"
    ):
        download_isic2017(tmp_path, "train", mirror=str(tmp_path))
    with pytest.raises(ConfigError, match=r"splits must be a list of split names or None; got one string 'train'"):
        check_dataset(MINI_ROOT, "train")


def test_an_empty_evaluation_split_is_one_clear_error(tmp_path):
    root = tmp_path / "root"
    for folder in ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"):
        (root / folder).mkdir(parents=True)
    (root / "ISIC-2017_Validation_Part3_GroundTruth.csv").write_text("image_id,melanoma,seborrheic_keratosis\n")
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, label_scheme="binary", **FEW_PROPOSALS
    )
    with pytest.raises(DatasetError, match=r"Nothing to evaluate: ISIC2017Dataset\(.*n=0.* holds no image"):
        evaluate(model, ISIC2017Dataset(root, "validation"), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_a_config_before_anything_is_written(tmp_path):
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, label_scheme="binary", **FEW_PROPOSALS
    )
    dataset = ISIC2017Dataset(MINI_ROOT, "train", image_size=64)
    with pytest.raises(ConfigError, match=r"precision 'fp16' needs a CUDA device; got device 'cpu'"):
        evaluate(model, dataset, config=InferenceConfig(precision="fp16"), out_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match=r"evaluate: config must be an isicseg.InferenceConfig; got dict"):
        evaluate(model, dataset, config={"tta": True}, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_archive_member_that_cannot_be_written_is_one_clear_error(tmp_path):
    import zipfile

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "ISIC-2017_Validation_Data.zip", "w") as z:
        z.writestr("ISIC-2017_Validation_Data/" + "x" * 300 + ".jpg", b"too long a name for any file system")
    root = tmp_path / "isic"
    with pytest.raises(
        DatasetError,
        match=r"Cannot write x+\.jpg \(member .* of .*ISIC-2017_Validation_Data.zip\) into .*\(File name too long\); nothing was extracted",
    ):
        download_isic2017(root, ["validation"], parts=["images"], mirror=str(mirror), verify=False)
    assert not root.exists()


def test_predict_reads_tif_bmp_webp_and_says_what_it_skipped(tmp_path):
    import os

    from PIL import Image

    from isicseg.inference import list_image_files

    folder = tmp_path / "in"
    folder.mkdir()
    for suffix in ("tif", "bmp", "webp", "JPG"):
        Image.new("RGB", (32, 24), (200, 50, 50)).save(folder / f"photo_{suffix.lower()}.{suffix}")
    (folder / "notes.txt").write_text("mine")
    (folder / "ISIC_0000001_superpixels.png").write_bytes(b"x")
    os.mkfifo(folder / "stream.jpg")
    files, skipped = list_image_files([folder])
    assert [p.name for p in files] == ["photo_bmp.bmp", "photo_jpg.JPG", "photo_tif.tif", "photo_webp.webp"]
    assert skipped == [
        f"2 entries in {folder}: not an image file (.jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp): ISIC_0000001_superpixels.png, notes.txt",
        f"1 entries in {folder}: not a regular file (a FIFO, socket or device): stream.jpg",
    ]
    model = build_mask_rcnn(
        3, backbone="resnet18_fpn", min_size=64, max_size=64, label_scheme="binary", **FEW_PROPOSALS
    )
    assert [a.mask.shape for a in predict(model, files)] == [(24, 32)] * 4


def test_check_calls_a_split_with_no_image_an_error(tmp_path):
    root = tmp_path / "root"
    for folder in ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"):
        (root / folder).mkdir(parents=True)
    (root / "ISIC-2017_Validation_Part3_GroundTruth.csv").write_text("image_id,melanoma,seborrheic_keratosis\n")
    report = check_dataset(root)
    assert not report.ok and report.errors == [
        f"The validation split in {root} holds no image (no ISIC_nnnnnnn.jpg in {root / 'ISIC-2017_Validation_Data'}); a split needs at least one."
    ]


def test_a_full_disk_during_a_download_says_to_free_space_not_just_to_rerun(tmp_path, monkeypatch):
    import errno
    import io

    from isicseg.data import download

    class Response(io.BytesIO):
        status, headers = 200, {"Content-Length": "4"}

    class FullDisk(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "x.zip.part"
    monkeypatch.setattr(type(target), "open", lambda self, mode="r": FullDisk())
    with pytest.raises(
        download.DownloadError,
        match=rf"No space left on device while writing {target}; free some space, then run the same command again to resume",
    ):
        download._copy_body(Response(b"data"), target, "http://127.0.0.1/x.zip", 0, 4)
