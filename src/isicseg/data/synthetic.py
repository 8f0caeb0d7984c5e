"""Deterministic synthetic ISIC 2017 data in exactly the official layout.

The images look like small dermoscopy photographs: a skin-tone background with uneven
lighting, a dark vignette, hairs and sensor noise, and one lesion whose appearance
depends on its class the way it does in the real data:

* **nevus**: round or slightly oval, smooth border, evenly brown;
* **melanoma**: irregular, asymmetric border and several colours (dark brown, black,
  blue-grey, red);
* **seborrheic keratosis**: lighter tan, oval, with a coarse "cerebriform" texture.

Class shares follow ISIC 2017 (about 19% melanoma and 13% seborrheic keratosis). The
files are written with the same names as the official release, so
:class:`~isicseg.ISIC2017Dataset` reads them with the same code as real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..exceptions import ConfigError
from ..labels import Diagnosis
from .layout import SPLITS, split_paths

__all__ = [
    "DEFAULT_NUM_IMAGES",
    "CLASS_SHARES",
    "MAX_SYNTHETIC_IMAGES",
    "MAX_SYNTHETIC_SIDE",
    "check_num_images",
    "check_synthetic_size",
    "render_lesion",
    "synthetic_names",
    "write_synthetic_isic",
]

DEFAULT_NUM_IMAGES = {"train": 120, "validation": 30, "test": 40}
CLASS_SHARES = {"melanoma": 0.19, "seborrheic_keratosis": 0.13}


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] with about ``cells`` blobs across the image."""
    grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) / 255


def _border_shape(rng: np.random.Generator, diagnosis: Diagnosis) -> tuple[np.ndarray, np.ndarray]:
    """Fourier amplitudes and phases of the lesion's radius as a function of angle."""
    if diagnosis == "melanoma":
        amplitudes = rng.uniform(0.04, 0.12, size=9) / np.sqrt(np.arange(1, 10))
    elif diagnosis == "seborrheic_keratosis":
        amplitudes = np.concatenate([[rng.uniform(0.08, 0.18)], rng.uniform(0.0, 0.02, size=8)])
    else:
        amplitudes = np.concatenate([[rng.uniform(0.0, 0.1)], rng.uniform(0.0, 0.012, size=8)])
    return amplitudes, rng.uniform(0, 2 * np.pi, size=9)


def render_lesion(
    diagnosis: Diagnosis, height: int = 192, width: int = 256, *, rng: np.random.Generator | int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic dermoscopy image and its lesion mask.

    Args:
        diagnosis: ``"nevus"``, ``"seborrheic_keratosis"`` or ``"melanoma"``.
        height: Image height in pixels.
        width: Image width in pixels.
        rng: A generator or a seed.

    Returns:
        ``(image, mask)``: ``uint8`` arrays of shapes ``(H, W, 3)`` and ``(H, W)``, the mask
        holding 0 (skin) and 255 (lesion).

    Example:
        >>> image, mask = render_lesion("melanoma", 96, 128, rng=1)
        >>> image.shape, mask.dtype, sorted(set(mask.ravel().tolist()))
        ((96, 128, 3), dtype('uint8'), [0, 255])
    """
    if diagnosis not in ("nevus", "seborrheic_keratosis", "melanoma"):
        raise ConfigError(f"Unknown diagnosis {diagnosis!r}; expected nevus, seborrheic_keratosis or melanoma.")
    rng = np.random.default_rng(rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    short = min(height, width)

    # Skin: a base tone, uneven lighting, fine texture.
    tone = rng.uniform([200, 150, 130], [240, 190, 170])
    light = 0.85 + 0.2 * _smooth_noise(rng, height, width, 3)
    image = tone * light[..., None] * (0.97 + 0.06 * _smooth_noise(rng, height, width, 24))[..., None]

    # Lesion outline: radius as a Fourier series in the angle.
    cy = height / 2 + rng.uniform(-0.12, 0.12) * height
    cx = width / 2 + rng.uniform(-0.12, 0.12) * width
    radius = rng.uniform(0.2, 0.34) * short
    amplitudes, phases = _border_shape(rng, diagnosis)
    angle = np.arctan2(yy - cy, xx - cx)
    k = np.arange(2, 11, dtype=np.float32)
    border = radius * (1 + np.cos(k * angle[..., None] + phases).dot(amplitudes))
    distance = np.hypot(yy - cy, xx - cx)
    inside = distance < border
    edge = np.clip((border - distance) / (0.04 * short) + 0.5, 0, 1)[..., None]
    depth = np.clip(1 - distance / np.maximum(border, 1), 0, 1)[..., None]

    # Lesion colour by class.
    if diagnosis == "nevus":
        brown = rng.uniform([105, 60, 35], [150, 95, 65])
        colour = brown * (1 - 0.25 * depth)
    elif diagnosis == "seborrheic_keratosis":
        tan = rng.uniform([165, 120, 85], [200, 150, 110])
        ridges = np.abs(np.sin(_smooth_noise(rng, height, width, max(6, short // 10)) * 18))
        colour = tan * (0.75 + 0.3 * ridges[..., None])
    else:
        palette = np.array([[90, 50, 30], [35, 22, 20], [95, 105, 135], [160, 70, 65]], dtype=np.float32)
        colour = np.broadcast_to(rng.uniform(0.9, 1.1, 3) * palette[0], image.shape).copy()
        for shade in palette[1:][rng.permutation(3)[: rng.integers(2, 4)]]:
            blob = _smooth_noise(rng, height, width, 5) > rng.uniform(0.5, 0.65)
            colour[blob] = shade
        colour = colour * (0.9 + 0.2 * _smooth_noise(rng, height, width, 12))[..., None]
    image = image * (1 - edge) + colour * edge

    # Hairs: a few dark, slightly curved strokes.
    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(0, 5)):
        start = rng.uniform([0, 0], [width, height])
        bend = start + rng.normal(0, short / 3, 2)
        end = bend + rng.normal(0, short / 3, 2)
        t = np.linspace(0, 1, 12)[:, None]
        points = (1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end
        draw.line(
            [tuple(p) for p in points],
            fill=tuple(int(v) for v in rng.uniform(20, 60, 3)),
            width=int(rng.integers(1, 3)),
        )
    image = np.asarray(canvas, dtype=np.float32)

    # Dermoscope vignette and sensor noise.
    corner = np.hypot((yy - height / 2) / (height / 2), (xx - width / 2) / (width / 2)) / np.sqrt(2)
    image = image * (1 - 0.45 * corner[..., None] ** 3) + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), inside.astype(np.uint8) * 255


def _diagnoses(count: int, rng: np.random.Generator) -> list[Diagnosis]:
    n_mel = round(CLASS_SHARES["melanoma"] * count)
    n_sk = round(CLASS_SHARES["seborrheic_keratosis"] * count)
    labels: list[Diagnosis] = (
        ["melanoma"] * n_mel + ["seborrheic_keratosis"] * n_sk + ["nevus"] * (count - n_mel - n_sk)
    )
    return [labels[i] for i in rng.permutation(count)]


def check_num_images(counts: dict[str, int]) -> None:
    """Refuse image counts that are not ints >= 0 for known splits, or all zero.

    Example:
        >>> check_num_images({"train": 0})
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: num_images must give each split an int in 0..100,000, at least one of them ...
    """
    unknown = [s for s in counts if s not in SPLITS]
    if unknown:
        raise ConfigError(f"Unknown splits {unknown} in num_images; allowed: {', '.join(SPLITS)}.")
    bad = {
        k: v
        for k, v in counts.items()
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SYNTHETIC_IMAGES
    }
    if bad or not any(counts.values()):
        raise ConfigError(
            f"num_images must give each split an int in 0..{MAX_SYNTHETIC_IMAGES:,}, at least one of them > 0; got "
            f"{dict(counts)!r}."
        )


MAX_SYNTHETIC_IMAGES = 100_000
"""Most images of one synthetic split."""
MAX_SYNTHETIC_SIDE = 4096
"""Longest side of a synthetic image (ISIC images are larger, but synthetic ones serve tests and demos)."""


def check_synthetic_size(image_size: tuple[int, int]) -> None:
    """Refuse a synthetic ``(height, width)`` outside 16..:data:`MAX_SYNTHETIC_SIDE`.

    Example:
        >>> check_synthetic_size((100, 10**6))
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: image_size must be (height, width), each an int in 16..4096; got (100, 1000000).
    """
    ok = isinstance(image_size, (tuple, list)) and len(image_size) == 2
    if not ok or any(
        isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= MAX_SYNTHETIC_SIDE for v in image_size
    ):
        raise ConfigError(
            f"image_size must be (height, width), each an int in 16..{MAX_SYNTHETIC_SIDE}; got {image_size!r}."
        )


def synthetic_names(counts: dict[str, int]) -> tuple[str, ...]:
    """The folders and CSVs :func:`~isicseg.write_synthetic_isic` writes under its root for ``counts``.

    Example:
        >>> synthetic_names({"validation": 3, "test": 0})  # doctest: +NORMALIZE_WHITESPACE
        ('ISIC-2017_Validation_Data', 'ISIC-2017_Validation_Part1_GroundTruth',
        'ISIC-2017_Validation_Part3_GroundTruth.csv')
    """
    names: list[str] = []
    for split, count in counts.items():
        if count > 0:
            paths = split_paths(".", split)
            names += [paths.images.name, paths.masks.name, paths.csv.name]
    return tuple(names)


def write_synthetic_isic(
    root: str | Path,
    *,
    num_images: dict[str, int] | None = None,
    image_size: tuple[int, int] = (192, 256),
    seed: int = 0,
) -> Path:
    """Write a synthetic dataset in the official ISIC 2017 layout.

    Args:
        root: Folder to write into (created if needed). Existing files of the same names
            are overwritten.
        num_images: Images per split, e.g. ``{"train": 120, "validation": 30, "test": 40}``
            (the default); splits not named are not written.
        image_size: ``(height, width)`` of every image.
        seed: The same seed writes byte-identical files.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Example:
        >>> root = write_synthetic_isic(getfixture("tmp_path"), num_images={"validation": 3}, image_size=(64, 80))
        >>> sorted(p.name for p in root.iterdir())[-1]
        'ISIC-2017_Validation_Part3_GroundTruth.csv'
    """
    counts = DEFAULT_NUM_IMAGES if num_images is None else num_images
    check_num_images(counts)
    check_synthetic_size(image_size)
    root = Path(root)
    next_id = 0
    for split_index, split in enumerate(SPLITS):
        count = counts.get(split, 0)
        if count <= 0:
            continue
        paths = split_paths(root, split)
        paths.images.mkdir(parents=True, exist_ok=True)
        paths.masks.mkdir(parents=True, exist_ok=True)
        rows = ["image_id,melanoma,seborrheic_keratosis"]
        for i, diagnosis in enumerate(_diagnoses(count, np.random.default_rng([seed, split_index]))):
            image_id = f"ISIC_{9_000_000 + next_id:07d}"
            next_id += 1
            image, mask = render_lesion(diagnosis, *image_size, rng=np.random.default_rng([seed, split_index, i]))
            Image.fromarray(image).save(paths.images / f"{image_id}.jpg", quality=92)
            Image.fromarray(mask).save(paths.mask_of(image_id))
            rows.append(f"{image_id},{float(diagnosis == 'melanoma')},{float(diagnosis == 'seborrheic_keratosis')}")
        paths.csv.write_text("\n".join(rows) + "\n")
    return root
