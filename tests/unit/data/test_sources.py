"""Several datasets in one run: root kinds, the concatenation, and epochs drawn by source shares."""

from __future__ import annotations

from collections import Counter

import pytest

from isicseg import ISIC2017Dataset, Trainer, TrainerConfig
from isicseg.data.ham10000 import HAM10000Dataset
from isicseg.data.sources import MultiSourceDataset, data_root_kind, open_data_root
from isicseg.engine import EpochBatchSampler
from isicseg.exceptions import ConfigError, DatasetNotFoundError

from ...conftest import MINI_ROOT
from ...ham_layout import write_ham


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return write_ham(tmp_path_factory.mktemp("ham"))


def test_a_root_s_kind_is_recognised_from_its_files(ham, tmp_path):
    assert data_root_kind(MINI_ROOT) == "isic2017" and data_root_kind(ham) == "ham10000"
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError, match=r"photos is neither ISIC 2017 .* nor HAM10000 .*; it holds a.jpg"):
        data_root_kind(tmp_path / "photos")
    assert isinstance(open_data_root(ham, "train", label_scheme="three_class"), HAM10000Dataset)
    with pytest.raises(
        ConfigError, match=r"is HAM10000, which is only trained on here; validation and evaluation stay on ISIC 2017"
    ):
        open_data_root(ham, "validation")


def test_the_concatenation_keeps_one_label_scheme_and_each_item_s_source(ham):
    isic = ISIC2017Dataset(MINI_ROOT, "train", label_scheme="three_class", image_size=32)
    extra = HAM10000Dataset(ham, label_scheme="three_class", image_size=32)
    both = MultiSourceDataset({"isic2017": isic, "ham10000": extra})
    assert len(both) == 4 + 11 and both.source_counts() == {"isic2017": 4, "ham10000": 11}
    assert both.labels == isic.labels + extra.labels and both.image_ids[:4] == isic.image_ids
    assert (
        both.get_height_and_width(5) == extra.get_height_and_width(1)
        and both[5][1]["image_id"] == extra.records[1].image_id
    )
    with pytest.raises(ConfigError, match=r"different label schemes \(isic2017: three_class, ham10000: binary\)"):
        MultiSourceDataset({"isic2017": isic, "ham10000": HAM10000Dataset(ham)})


def test_an_epoch_draws_each_source_s_share():
    groups = ["isic"] * 20 + ["ham"] * 100
    sampler = EpochBatchSampler(120, 4, groups=groups, shares={"isic": 0.5, "ham": 0.5}, num_draws=60)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        drawn = [i for batch in sampler for i in batch]
        assert len(drawn) == 60 and len(list(sampler)) == len(sampler) == 15
        assert Counter(groups[i] for i in drawn) == {"isic": 30, "ham": 30}
        isic = [i for i in drawn if groups[i] == "isic"]
        assert set(isic) == set(range(20))  # the small source is used whole before any image repeats
    sampler.set_epoch(1)
    again = EpochBatchSampler(120, 4, groups=groups, shares={"isic": 0.5, "ham": 0.5}, num_draws=60)
    again.set_epoch(1)
    assert list(again) == list(sampler)  # seeded by (seed, epoch): resumable
    with pytest.raises(ConfigError, match=r"shares name groups that no item belongs to: extra"):
        EpochBatchSampler(120, 4, groups=groups, shares={"isic": 0.5, "extra": 0.5})


def test_source_shares_need_as_many_sources(tmp_path):
    with pytest.raises(ConfigError, match=r"TrainerConfig.source_shares must be positive shares that sum to 1"):
        TrainerConfig(source_shares=(0.7, 0.7))
    with pytest.raises(ConfigError, match=r"TrainerConfig.balanced_sampling must be False when source_shares are set"):
        TrainerConfig(source_shares=(0.5, 0.5), balanced_sampling=True)
    from ...helpers import tiny_model

    trainer = Trainer(TrainerConfig(epochs=1, batch_size=2, source_shares=(0.5, 0.5), device="cpu"))
    with pytest.raises(
        ConfigError,
        match=r"source_shares \(0.5, 0.5\) needs a MultiSourceDataset with 2 sources; the training data has no named sources",
    ):
        trainer.fit(tiny_model(), ISIC2017Dataset(MINI_ROOT, "train", image_size=32))


@pytest.mark.slow
def test_a_run_trains_on_both_sources_and_validates_on_isic_2017_only(ham, tmp_path):
    from ...helpers import tiny_model

    seen = []
    isic = ISIC2017Dataset(MINI_ROOT, "train", label_scheme="three_class", image_size=64)
    extra = HAM10000Dataset(
        ham,
        label_scheme="three_class",
        image_size=64,
        transforms=lambda image, target: (seen.append(target["image_id"]) or image, target),
    )
    val = ISIC2017Dataset(MINI_ROOT, "validation", label_scheme="three_class", image_size=64)
    trainer = Trainer(
        TrainerConfig(
            epochs=1,
            batch_size=2,
            source_shares=(0.5, 0.5),
            epoch_items=8,
            optimizer="adamw",
            lr=1e-4,
            warmup_steps=0,
            device="cpu",
            out_dir=str(tmp_path / "run"),
        )
    )
    history = trainer.fit(tiny_model(4), MultiSourceDataset({"isic2017": isic, "ham10000": extra}), val)
    assert trainer.global_step == 4 and len(seen) == 4  # 8 items a epoch, half of them HAM10000
    assert set(seen) <= set(extra.image_ids) and "val_jaccard" in history[0]  # validated on ISIC 2017 (its evaluator)


def test_sources_without_one_label_scheme_or_no_source_are_refused():
    with pytest.raises(ConfigError, match=r"MultiSourceDataset needs at least one dataset"):
        MultiSourceDataset({})
    with pytest.raises(ConfigError, match=r"Every source needs a label_scheme .*; plain has none"):
        MultiSourceDataset({"isic2017": ISIC2017Dataset(MINI_ROOT, "train"), "plain": [1, 2]})


def test_classifier_sources_mark_the_other_sources_items_as_detector_only(ham):
    isic = ISIC2017Dataset(MINI_ROOT, "train", label_scheme="three_class", image_size=32)
    extra = HAM10000Dataset(ham, label_scheme="three_class", image_size=32)
    both = MultiSourceDataset({"isic2017": isic, "ham10000": extra}, classifier_sources=["isic2017"])
    flags = [bool(both[i][1].get("train_classifier", True)) for i in range(len(both))]
    assert flags == [True] * len(isic) + [False] * len(extra)
    assert bool(both[-1][1]["train_classifier"]) is False  # negative indices find their source too
    _, target = both[len(isic)]
    assert len(target["boxes"]) == 1 and target["masks"].shape[0] == 1  # the detector still learns from it
    assert "classifier_sources=('isic2017',)" in repr(both)
    assert "train_classifier" not in MultiSourceDataset({"isic2017": isic, "ham10000": extra})[len(isic)][1]
    with pytest.raises(ConfigError, match=r"classifier_sources names 'ham', which is not a source; the sources are"):
        MultiSourceDataset({"isic2017": isic, "ham10000": extra}, classifier_sources=["ham"])
