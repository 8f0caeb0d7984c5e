"""Decoding ISIC images and masks, fast and with clear errors.

ISIC 2017 images reach 6748x4499 pixels. When a target size is known, JPEGs are decoded
at a reduced scale by libjpeg itself (DCT scaling through Pillow's ``draft``), which
skips most of the work, and then resized to the exact size. Masks are PNGs: they are
decoded in full and resized with nearest neighbour, so they stay binary and equal what
a nearest resize of the full-size mask gives.

Images are read as every viewer shows them: an EXIF orientation tag is applied (the
sizes reported by :func:`~isicseg.data.io.read_height_and_width` are those of the turned image), 16-bit PNGs
are scaled to 8 bits (not clipped to white), and only regular files are opened (a FIFO
named ``*.jpg`` would block a reader forever). Pillow decodes a JPEG whose body is
damaged without a word; ``strict=True`` also runs libjpeg's own check (through
torchvision) and refuses such a file.

Sizes are ``(height, width)`` everywhere, as torchvision gives tensor shapes, and every name
that holds one says so (``height_and_width``); Pillow's ``(width, height)`` stays inside
this module.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..exceptions import ConfigError, DatasetError

__all__ = [
    "ImageSize",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "resized_height_and_width",
    "read_height_and_width",
    "read_image",
    "read_mask",
]

ImageSize = int | tuple[int, int] | None
"""``None`` keeps the original size; an int is the length of the shorter side (aspect
ratio kept, like :class:`torchvision.transforms.v2.Resize`); ``(height, width)`` is exact."""

DEFAULT_MAX_IMAGE_PIXELS = 150_000_000
"""Images with more pixels are refused as possible decompression bombs (the largest
ISIC 2017 image has about 30 million)."""


MAX_OUTPUT_SIDE = 16384
"""Largest side an image or mask is resized to (a 16384 x 16384 RGB image is 0.8 GB)."""


def resized_height_and_width(
    height: int, width: int, image_size: ImageSize, *, max_side: int = MAX_OUTPUT_SIDE
) -> tuple[int, int]:
    """The ``(height, width)`` an image of ``height`` x ``width`` pixels is resized to.

    ``image_size`` is an int (shorter side), ``(height, width)`` or ``None`` (keep the
    size); each value must lie in ``1..max_side``, and so must the resulting sides, so a
    mistyped size cannot ask for gigabytes.

    Example:
        >>> resized_height_and_width(768, 1024, 256)
        (256, 341)
        >>> resized_height_and_width(768, 1024, (100, 200))
        (100, 200)
    """
    allowed = f"a positive int, (height, width) of positive ints, or None, each at most {max_side}"
    if image_size is None:
        return height, width
    one = isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool)
    values = (
        (image_size,)
        if one
        else tuple(image_size)
        if isinstance(image_size, (tuple, list)) and len(image_size) == 2
        else ()
    )
    if not values or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 < v <= max_side for v in values
    ):
        raise ConfigError(f"image_size must be {allowed}; got {image_size!r}.")
    if one:
        scale = int(image_size) / min(width, height)
        size = max(1, round(height * scale)), max(1, round(width * scale))
    else:
        size = int(values[0]), int(values[1])
    if max(size) > max_side:
        raise ConfigError(
            f"image_size {image_size!r} would make a {width}x{height} (width x height) image {size[1]}x{size[0]}, "
            f"more than {max_side} pixels a side; choose a smaller image_size."
        )
    return size


def _pil_size(pil_size: tuple[int, int], image_size: ImageSize) -> tuple[int, int]:
    """Pillow's ``(width, height)`` after resizing an image of Pillow size ``pil_size`` to ``image_size``."""
    height, width = resized_height_and_width(pil_size[1], pil_size[0], image_size)
    return width, height


_PILLOW_LIMIT = threading.Lock()


_TURNED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""The transpose that shows an image as its EXIF orientation tag (0x0112) says it was taken."""


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: show the pixels as stored
        return 1
    return value if value in _TURNED else 1


def _shown_size(image: Image.Image) -> tuple[int, int]:
    """Pillow's ``(width, height)`` as a viewer shows the image (orientations 5-8 swap the sides)."""
    width, height = image.size
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _open(path: Path, kind: str, max_pixels: int) -> Image.Image:
    if path.exists() and not path.is_file():
        raise DatasetError(
            f"{kind} {path} is not a regular file (a folder, FIFO, socket or device); only regular files are read."
        )
    try:
        with warnings.catch_warnings(), _PILLOW_LIMIT:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow refuses images above 2 x its own limit before isicseg can look: its
            # check is off while the header is read, and max_pixels (checked just below,
            # before any pixel is decoded) is the one limit, as documented
            pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = pillow_limit
    except FileNotFoundError:
        raise DatasetError(f"{kind} file {path} does not exist.") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(
            f"{kind} {path} is not a readable image file ({error}); expected a JPEG image or PNG mask."
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise DatasetError(
            f"{kind} {path} is {width}x{height} = {width * height:,} pixels, more than the "
            f"{max_pixels:,} allowed (max_image_pixels); refusing it as a possible decompression bomb."
        )
    return image


def read_height_and_width(path: str | Path, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of an image as viewers show it, read from its header without decoding pixels."""
    with _open(Path(path), "Image", max_pixels) as image:
        width, height = _shown_size(image)
        return height, width


def read_image(
    path: str | Path, image_size: ImageSize = None, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, strict: bool = False
) -> np.ndarray:
    """Decode an image to an RGB ``uint8`` array of shape ``(H, W, 3)``, as viewers show it.

    Grayscale, paletted, RGBA and CMYK images are converted to RGB (alpha is dropped);
    16-bit images are scaled to 8 bits; the EXIF orientation is applied. With
    ``image_size`` set, JPEGs are decoded at the smallest DCT scale that is still at least
    the output size, then resized (bilinear, antialiased) to exactly that size.

    Args:
        path: The image file.
        image_size: ``None``, the shorter side (int) or ``(height, width)``, of the turned image.
        max_pixels: Larger images are refused.
        strict: Also check a JPEG's body with libjpeg (through torchvision) and refuse
            it when libjpeg reports corrupt data; costs a second full decode.

    Raises:
        DatasetError: If the file is missing, not a regular file, corrupt, truncated or too large.
    """
    path = Path(path)
    with _open(path, "Image", max_pixels) as image:
        orientation, is_jpeg = _orientation(image), image.format == "JPEG"
        try:
            size = _pil_size(_shown_size(image), image_size)
        except ConfigError as error:  # e.g. a 50000x20 panorama at shorter side 512
            raise DatasetError(f"Image {path}: {error}") from None
        stored = size[::-1] if orientation in (5, 6, 7, 8) else size
        try:
            if image_size is not None and image.format == "JPEG":
                image.draft("RGB", stored)
            rgb = _to_rgb(image)
            if rgb.size != stored:
                rgb = rgb.resize(stored, Image.Resampling.BILINEAR)
            if orientation != 1:
                rgb = rgb.transpose(_TURNED[orientation])
        except (OSError, SyntaxError, ValueError) as error:
            raise DatasetError(
                f"Image {path} could not be decoded ({error}); the file is corrupt or truncated."
            ) from None
    if strict and is_jpeg:
        _check_jpeg_body(path)
    return np.array(rgb)  # writable, so torch can wrap it without a copy warning


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB of any mode; 16- and 32-bit integer images are scaled to 8 bits instead of clipped."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(image).astype(np.uint32)
        top = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
        return Image.fromarray((array * 255 // top).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _check_jpeg_body(path: Path) -> None:
    """Decode with libjpeg through torchvision and refuse the file if libjpeg reports damage.

    Pillow decodes a JPEG with a damaged body silently. libjpeg (in torchvision's decoder)
    notices, but only says so on the process's standard error, so that is read here for
    the length of one decode.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 deprecates its decoders for TorchCodec's
        from torchvision.io import decode_jpeg

    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                decode_jpeg(data)
            error = None
        except RuntimeError as caught:
            error = str(caught).split(", ")[-1].strip()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        said = [line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip()]
    if error or said:
        raise DatasetError(
            f"Image {path} is a damaged JPEG: libjpeg reports {(error or said[0])!r}; Pillow would decode it "
            "without a word "
            f"and its pixels would be wrong. Re-export or re-download the file."
        )


def read_mask(
    path: str | Path,
    *,
    expected_height_and_width: tuple[int, int] | None = None,
    image_size: ImageSize = None,
    binarize: bool = False,
    image_path: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode a lesion mask to a ``uint8`` array of shape ``(H, W)`` holding 0 and 1.

    Args:
        path: An 8-bit single-channel PNG whose pixels are 0 (skin) or 255 (lesion).
        expected_height_and_width: ``(height, width)`` of the mask's image; a mask of another
            size is an error.
        image_size: Output size, as for :func:`read_image` (nearest-neighbour resize).
        binarize: Accept any 8-bit values and treat those > 128 as lesion (the ISIC
            scoring rule) instead of refusing masks with values other than 0 and 255.
        image_path: The image the mask belongs to, for error messages.

    Raises:
        DatasetError: If the mask is unreadable, of another size than its image, not
            single-channel, or (without ``binarize``) not binary.
    """
    path = Path(path)
    with _open(path, "Mask", max_pixels) as mask:
        expected = tuple(expected_height_and_width or ())
        if expected and mask.size != expected[::-1]:
            of = f" {image_path}" if image_path else ""
            raise DatasetError(
                f"Mask {path} is {mask.size[0]}x{mask.size[1]} but its image{of} is "
                f"{expected[1]}x{expected[0]} (width x height); a mask must have its image's size."
            )
        if mask.mode not in ("L", "1"):
            raise DatasetError(
                f"Mask {path} has Pillow mode {mask.mode!r}; expected an 8-bit single-channel "
                f"PNG (mode 'L') with values 0 and 255."
            )
        try:
            mask = mask.convert("L")
            size = _pil_size(mask.size, image_size)
            values = mask.histogram()  # in C, without copying the full-size mask to numpy
            if mask.size != size:
                mask = mask.resize(size, Image.Resampling.NEAREST)
            array = np.asarray(mask)
        except (OSError, SyntaxError, ValueError) as error:
            raise DatasetError(
                f"Mask {path} could not be decoded ({error}); the file is corrupt or truncated."
            ) from None
    present = np.flatnonzero(values)
    if set(present.tolist()) == {0, 1} or present.tolist() == [1]:
        raise DatasetError(
            f"Mask {path} holds only the values 0 and 1: a 0/1 mask, where ISIC masks use 0 (skin) and 255 (lesion). "
            f"Read as ISIC masks are (lesion > 128) it would be empty, with or without binarize_masks; "
            f"save it with 255 for lesion (e.g. Image.fromarray(mask * 255))."
        )
    if not binarize and not set(present.tolist()) <= {0, 255}:
        odd = [int(v) for v in present if v not in (0, 255)]
        raise DatasetError(
            f"Mask {path} is not binary: it holds {len(odd)} values other than 0 and 255 "
            f"(e.g. {odd[:5]}); expected 0 (skin) and 255 (lesion). Pass binarize_masks=True "
            f"to treat values > 128 as lesion."
        )
    return (array > 128).astype(np.uint8)
