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
    path = viz.plot_overlays([viz.Overlay(image, "a", mask, (30, 20, 60, 40), mask, (30, 20, 60, 40), "x")] * 2, tmp_path / "o.png", columns=2)
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
