"""The demo's synthetic data folder: reused only when written with the demo's counts and shape, never deleted."""

from __future__ import annotations

import json

from PIL import Image

from isicseg.cli import DEMO_DATA_MARKER, DEMO_IMAGE_SHAPE, _write_demo_data
from isicseg.data.layout import split_paths

COUNTS = {"train": 3, "validation": 2, "test": 2}


def test_demo_data_is_written_once_and_reused(tmp_path):
    data = tmp_path / "synthetic-isic"
    _write_demo_data(data, COUNTS)
    images = sorted(split_paths(data, "train").images.glob("*.jpg"))
    assert len(images) == 3 and Image.open(images[0]).size == DEMO_IMAGE_SHAPE[::-1]
    assert json.loads((data / DEMO_DATA_MARKER).read_text()) == {
        "counts": COUNTS,
        "image_shape": list(DEMO_IMAGE_SHAPE),
    }
    stamp = images[0].stat().st_mtime_ns
    _write_demo_data(data, COUNTS)
    assert images[0].stat().st_mtime_ns == stamp and [p.name for p in tmp_path.iterdir()] == ["synthetic-isic"]


def test_demo_data_of_other_settings_is_moved_aside(tmp_path, capsys):
    data = tmp_path / "synthetic-isic"
    _write_demo_data(data, COUNTS)
    (data / DEMO_DATA_MARKER).unlink()  # as an older isicseg left it: no marker
    (data / "mine.txt").write_text("a user's note")
    _write_demo_data(data, {**COUNTS, "train": 4})
    assert "moved it aside" in capsys.readouterr().out
    aside = next(tmp_path.glob("synthetic-isic.earlier-*"))
    assert (aside / "mine.txt").read_text() == "a user's note"  # nothing deleted
    assert len(list(split_paths(data, "train").images.glob("*.jpg"))) == 4
