from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from isicseg.data.io import read_height_and_width, read_image, read_mask, resized_height_and_width
from isicseg.exceptions import ConfigError, DatasetError

from ...conftest import MINI_ROOT


def save(array, path, mode=None, **kwargs):
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    image.save(path, **kwargs)
    return path


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return (rng.random((60, 80, 3)) * 255).astype(np.uint8)


def test_resized_height_and_width():
    assert resized_height_and_width(768, 1024, None) == (768, 1024)
    assert resized_height_and_width(768, 1024, 256) == (256, 341)
    assert resized_height_and_width(1024, 768, 256) == (341, 256)
    assert resized_height_and_width(768, 1024, (100, 200)) == (100, 200)


@pytest.mark.parametrize("bad", [0, -3, (0, 10), (1, 2, 3)])
def test_resized_height_and_width_rejects_bad_sizes(bad):
    with pytest.raises(ConfigError, match="image_size must be a positive int"):
        resized_height_and_width(10, 10, bad)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_other_colour_modes_become_rgb(tmp_path, rgb, mode):
    suffix = ".png" if mode in ("RGBA", "P") else ".jpg"
    path = save(rgb, tmp_path / f"x{suffix}", mode)
    out = read_image(path)
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(out, expected)


def test_draft_decode_matches_full_decode_closely(tmp_path):
    yy, xx = np.mgrid[0:600, 0:800]
    smooth = np.stack([xx * 255 / 800, yy * 255 / 600, (xx + yy) * 255 / 1400], -1).astype(np.uint8)
    path = save(smooth, tmp_path / "big.jpg", quality=95)
    fast = read_image(path, 100)
    full = np.asarray(Image.open(path).convert("RGB").resize((133, 100), Image.Resampling.BILINEAR))
    assert fast.shape == full.shape == (100, 133, 3)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 3


def test_truncated_jpeg(tmp_path, rgb):
    path = save(rgb, tmp_path / "x.jpg")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # header intact, scan data cut
    with pytest.raises(DatasetError, match=r"x.jpg could not be decoded .* corrupt or truncated"):
        read_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"this is not a jpeg")
    with pytest.raises(DatasetError, match=r"x.jpg is not a readable image file"):
        read_image(path)


def test_missing_image(tmp_path):
    with pytest.raises(DatasetError, match=r"Image file .*x.jpg does not exist"):
        read_height_and_width(tmp_path / "x.jpg")


def test_decompression_bomb_is_refused(tmp_path, rgb):
    path = save(rgb, tmp_path / "x.jpg")
    with pytest.raises(DatasetError, match=r"80x60 = 4,800 pixels, more than the 1,000 allowed"):
        read_image(path, max_pixels=1000)


def test_mask_binary_and_resized_nearest(tmp_path):
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 20:70] = 255
    mask[0, 0] = 255
    path = save(mask, tmp_path / "m.png")
    out = read_mask(path, expected_height_and_width=(60, 80), image_size=30)
    expected = np.asarray(Image.fromarray(mask).resize((40, 30), Image.Resampling.NEAREST)) > 128
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert np.array_equal(out.astype(bool), expected)


def test_mask_size_must_match_image(tmp_path):
    path = save(np.zeros((60, 80), np.uint8), tmp_path / "m.png")
    with pytest.raises(DatasetError, match=r"m.png is 80x60 but its image img.jpg is 81x60 \(width x height\)"):
        read_mask(path, expected_height_and_width=(60, 81), image_path="img.jpg")
    with pytest.raises(TypeError):  # sizes are named where they are passed: (h, w) or (w, h) cannot be mixed up
        read_mask(path, (60, 80))


def test_non_binary_mask_is_refused_or_binarized(tmp_path):
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :2] = (128, 129)
    mask[1, :] = 255
    path = save(mask, tmp_path / "m.png")
    with pytest.raises(
        DatasetError, match=r"m.png is not binary: it holds 2 values other than 0 and 255 \(e.g. \[128, 129\]\)"
    ):
        read_mask(path)
    out = read_mask(path, binarize=True)
    assert out[0, :2].tolist() == [0, 1] and out[1].all()


def test_rgb_mask_is_refused(tmp_path):
    path = save(np.zeros((4, 4, 3), np.uint8), tmp_path / "m.png")
    with pytest.raises(DatasetError, match=r"m.png has Pillow mode 'RGB'; expected an 8-bit single-channel"):
        read_mask(path)


def test_one_bit_mask_is_accepted(tmp_path):
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 1:3] = 255
    path = save(mask, tmp_path / "m.png", "1")
    assert read_mask(path).sum() == 4


def test_truncated_mask_png(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) > 0.5).astype(np.uint8) * 255).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"Mask .*m.png could not be decoded .* corrupt or truncated"):
        read_mask(path)


def test_zero_one_mask_is_named_for_what_it_is(tmp_path):
    path = tmp_path / "m.png"
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 1
    Image.fromarray(mask).save(path)
    for binarize in (False, True):
        with pytest.raises(
            DatasetError, match=rf"Mask {path} holds only the values 0 and 1: a 0/1 mask, .*save it with 255 for lesion"
        ):
            read_mask(path, binarize=binarize)


def test_max_image_pixels_above_pillows_own_limit_is_honoured(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (40, 30)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 1200 pixels (> 2 x 100)
    assert read_height_and_width(path, max_pixels=2000) == (30, 40)
    assert Image.MAX_IMAGE_PIXELS == 100  # Pillow's setting is left as it was
    with pytest.raises(
        DatasetError, match=rf"Image {path} is 40x30 = 1,200 pixels, more than the 1,000 allowed \(max_image_pixels\)"
    ):
        read_height_and_width(path, max_pixels=1000)


@pytest.mark.parametrize("image_size", [10**6, 64.0, True, (1, 2, 3), "256", (100, 0)])
def test_image_size_is_bounded_and_typed(image_size):
    from isicseg import ISIC2017Dataset

    with pytest.raises(
        ConfigError,
        match=r"image_size must be a positive int, \(height, width\) of positive ints, or None, each at most 16384; got ",
    ):
        ISIC2017Dataset(MINI_ROOT, "validation", image_size=image_size)


def test_output_larger_than_the_bound_is_refused_before_decoding():
    assert resized_height_and_width(768, 1024, np.int64(256)) == (256, 341)
    with pytest.raises(
        ConfigError,
        match=r"image_size 8000 would make a 4000x100 \(width x height\) image 320000x8000, more than 16384 pixels a side",
    ):
        resized_height_and_width(100, 4000, 8000)


def test_a_fifo_named_jpg_is_refused_not_read(tmp_path):
    import os

    fifo = tmp_path / "ISIC_0000001.jpg"
    os.mkfifo(fifo)
    for read in (read_image, read_height_and_width, lambda p: read_mask(p)):
        with pytest.raises(DatasetError, match=rf"{fifo} is not a regular file \(a folder, FIFO, socket or device\)"):
            read(fifo)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :20] = 255  # a white patch in the stored image's top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))  # what viewers show
    assert read_height_and_width(path) == shown.shape[:2]
    image = read_image(path)
    assert image.shape == shown.shape and (orientation == 3 or image.shape[:2] == (60, 40))
    assert np.abs(image.astype(int) - shown.astype(int)).max() <= 2
    small = read_image(path, 20)  # the shorter side of the turned image
    assert min(small.shape[:2]) == 20 and (small.shape[0] > small.shape[1]) == (shown.shape[0] > shown.shape[1])


def test_a_16_bit_png_is_scaled_not_clipped_to_white(tmp_path):
    values = np.array([[0, 16384], [32768, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    image = read_image(path)
    assert image[..., 0].tolist() == [[0, 63], [127, 255]] and (image[..., 0] == image[..., 2]).all()


def test_a_damaged_jpeg_body_is_found_by_the_strict_decoder(tmp_path, rgb):
    path = tmp_path / "x.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    raw = bytearray(path.read_bytes())
    random = np.random.default_rng(0)
    for _ in range(3):  # flip a few bits in the entropy-coded body, away from markers
        at = int(random.integers(len(raw) // 3, len(raw) - 10))
        if 0xFF not in (raw[at], raw[at - 1]) and raw[at] ^ 4 != 0xFF:
            raw[at] ^= 4
    path.write_bytes(bytes(raw))
    assert read_image(path).shape == rgb.shape  # Pillow decodes it without a word
    with pytest.raises(DatasetError, match=rf"Image {path} is a damaged JPEG: libjpeg reports 'Corrupt JPEG data"):
        read_image(path, strict=True)
    Image.fromarray(rgb).save(path, quality=90)
    assert read_image(path, strict=True).shape == rgb.shape  # an intact file passes
