"""Figures: drawn without touching matplotlib's global backend, and with content."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from isicseg import viz


def test_import_leaves_the_backend_alone():
    code = "import matplotlib; matplotlib.use('svg'); import isicseg.viz, isicseg.evaluation; print(matplotlib.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "svg"


def test_overlay_figure_shows_the_image_and_the_masks(tmp_path):
    image = np.full((60, 80, 3), 200, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:60] = True
    path = viz.plot_overlays(
        [viz.Overlay(image, "a", mask, (30, 20, 60, 40), mask, (30, 20, 60, 40), "x")] * 2,
        tmp_path / "o.png",
        columns=2,
    )
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape == (260, 600, 3)  # 2 columns of 3 in x 2.6 in at 100 dpi
    magenta = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] > 180)
    assert magenta.sum() > 100  # the predicted contour and box are drawn
    assert (pixels.std(axis=(0, 1)) > 10).all()  # not blank


def test_roc_figure_has_curves(tmp_path):
    path = viz.plot_roc_curves({"melanoma": ([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])}, tmp_path / "roc.png")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert pixels.shape == (450, 450, 3)
    coloured = np.abs(pixels[..., 0] - pixels[..., 2]) > 60  # the blue ROC line, not grey or black
    assert coloured.sum() > 200


def test_draw_overlay_outlines_the_mask_and_box_at_the_drawn_size(tmp_path):
    from PIL import Image

    from isicseg.viz import OVERLAY_SIDE, Overlay, draw_overlay

    mask = np.zeros((1200, 1600), bool)
    mask[300:900, 400:1200] = True  # a full-resolution mask; the image was decoded smaller
    image = np.full((600, 800, 3), 128, np.uint8)
    out = np.asarray(
        Image.open(
            draw_overlay(
                Overlay(image, "ISIC_1", pred_mask=mask, pred_box=(400, 300, 1200, 900), caption="melanoma 0.9"),
                tmp_path / "o.png",
            )
        )
    )
    assert out.shape == (384, OVERLAY_SIDE, 3)  # 800x600 image fitted into 512 px
    magenta = (out == (255, 0, 255)).all(axis=-1)
    assert (
        magenta[96, 128:384].mean() > 0.9 and magenta[96:288, 128].mean() > 0.9
    )  # top edge and left edge of the lesion
    assert not magenta[150:230, 180:330].any()  # inside: the image, untouched
    assert (out[150:230, 180:330] == 128).all() and (out[:14] == 0).any()  # title bar drawn on top
