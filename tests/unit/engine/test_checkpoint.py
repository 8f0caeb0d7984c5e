"""Checkpoint files: written atomically, read with clear errors."""

from __future__ import annotations

import pytest

from isicseg import read_checkpoint
from isicseg.exceptions import WeightsError


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"Weight file .*last.pt could not be loaded with weights_only=True"):
        read_checkpoint(path)
