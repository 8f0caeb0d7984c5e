"""Every checkpoint isicseg writes carries a checksum of its weights; a damaged file is refused on load."""

from __future__ import annotations

import pytest
import torch

from isicseg import load_model, read_checkpoint
from isicseg._integrity import DIGEST_KEY, weights_digest
from isicseg.engine import save_checkpoint
from isicseg.exceptions import WeightsError

from ...helpers import tiny_model


def _flip_a_weight_byte(path):
    """Flip one byte inside the largest tensor's data record, as a bad disk or copy would."""
    raw = bytearray(path.read_bytes())
    state = torch.load(path, weights_only=True)["model"]
    name = max(state, key=lambda k: state[k].numel())
    needle = state[name].reshape(-1)[: state[name].numel() // 2 + 8].view(torch.uint8).numpy().tobytes()[-16:]
    at = raw.find(needle)
    assert at > 0
    raw[at] ^= 0x40
    path.write_bytes(bytes(raw))


def test_a_checkpoint_with_a_flipped_weight_byte_is_refused_by_the_reader_and_by_load_model(tmp_path):
    model = tiny_model()
    path = save_checkpoint(
        {"model": model.state_dict(), "identity": model.identity.replace(label_scheme="binary").to_dict()},
        tmp_path / "last.pt",
    )
    stored = torch.load(path, weights_only=True)
    assert stored[DIGEST_KEY] == weights_digest(model.state_dict())
    assert set(read_checkpoint(path).weights) == set(model.state_dict())
    load_model(path)  # an intact file loads
    _flip_a_weight_byte(path)
    assert torch.load(path, weights_only=True)  # torch itself does not notice
    with pytest.raises(
        WeightsError,
        match=rf"Checkpoint {path} is damaged: its weights have SHA-256 [0-9a-f]{{16}}\.\.\., but [0-9a-f]{{16}}\.\.\. was stored",
    ):
        read_checkpoint(path)
    with pytest.raises(WeightsError, match=r"is damaged"):
        load_model(path)


def test_files_without_a_checksum_still_load(tmp_path):
    model = tiny_model()
    torch.save(
        {"model": model.state_dict(), "identity": model.identity.replace(label_scheme="binary").to_dict()},
        tmp_path / "other.pt",
    )
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    assert read_checkpoint(tmp_path / "other.pt").weights.keys() == model.state_dict().keys()
    assert load_model(tmp_path / "other.pt").identity.label_scheme == "binary"


def test_the_digest_sees_names_dtypes_shapes_and_values():
    base = {"a": torch.zeros(2, 3), "b": torch.arange(4)}
    variants = [
        {"a": torch.zeros(2, 3), "c": torch.arange(4)},
        {"a": torch.zeros(3, 2), "b": torch.arange(4)},
        {"a": torch.zeros(2, 3, dtype=torch.float64), "b": torch.arange(4)},
        {"a": torch.zeros(2, 3), "b": torch.arange(4) + 1},
    ]
    assert len({weights_digest(base), *map(weights_digest, variants)}) == 5
    assert weights_digest({"b": torch.arange(4), "a": torch.zeros(2, 3)}) == weights_digest(
        base
    )  # key order does not matter
    assert weights_digest({"x": torch.zeros(2, dtype=torch.bfloat16)})  # dtypes numpy lacks work too


@pytest.fixture(scope="module")
def train_data(synthetic_root):
    from isicseg import ISIC2017Dataset

    return ISIC2017Dataset(synthetic_root, "train", image_size=64, subset=2)


def test_resuming_from_a_checkpoint_that_lacks_entries_or_fits_another_model_is_one_clear_error(train_data, tmp_path):
    from isicseg.engine import Trainer, TrainerConfig

    trainer = Trainer(TrainerConfig(epochs=1, batch_size=2, out_dir=str(tmp_path / "run"), num_workers=0))
    weights_only = save_checkpoint({"model": tiny_model().state_dict()}, tmp_path / "weights.pt")
    with pytest.raises(
        WeightsError,
        match=rf"Cannot resume from {weights_only}: it lacks 'optimizer', 'scheduler', 'epoch', .* \(it holds 'model', 'model_sha256'\)",
    ):
        trainer.fit(tiny_model(), train_data, resume=weights_only)
    other = tiny_model(num_classes=5).state_dict()
    entries = {"optimizer": {}, "scheduler": {}, "epoch": 0, "global_step": 0, "rng": {}, "callbacks": {}}
    foreign = save_checkpoint({"model": other, **entries}, tmp_path / "foreign.pt")
    with pytest.raises(
        WeightsError,
        match=rf"Cannot resume from {foreign}: its weights or optimizer state do not fit this model \(RuntimeError: .*size mismatch",
    ):
        trainer.fit(tiny_model(), train_data, resume=foreign)
