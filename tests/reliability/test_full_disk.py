"""A full disk while a checkpoint is written: a clear error, the previous checkpoint intact, history.json matching it.

The disk is a small tmpfs mounted for the test (skipped where mounting is not allowed).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from isicseg import ISIC2017Dataset, read_checkpoint
from isicseg.engine import Trainer, TrainerConfig
from isicseg.exceptions import CheckpointError

from ..helpers import tiny_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of the given size in MiB; yields a function that does it."""
    mounted = []

    def mount(mib: int):
        folder = tmp_path / "disk"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def test_full_disk_keeps_the_previous_checkpoint(synthetic_root, small_disk):
    model = tiny_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    size_mib = (
        (sum(t.numel() for t in model.state_dict().values()) + 2 * trainable) * 4 / 2**20
    )  # weights + AdamW moments
    disk = small_disk(int(size_mib * 1.5) + 4)  # one checkpoint fits, a second beside it does not
    train = ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)
    config = TrainerConfig(epochs=2, batch_size=2, warmup_steps=0, optimizer="adamw", lr=1e-4, out_dir=str(disk))
    with pytest.raises(
        CheckpointError,
        match=rf"No space left on device while writing {disk / 'last.pt'} \(\d+ MB free there\); the previous last.pt is intact",
    ):
        Trainer(config).fit(model, train)
    assert read_checkpoint(disk / "last.pt").epoch == 0
    assert [row["epoch"] for row in json.loads((disk / "history.json").read_text())] == [0]
    assert not list(disk.glob(".last.pt.*.tmp"))
