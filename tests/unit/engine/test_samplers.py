"""The epoch batch sampler."""

from __future__ import annotations

import pytest

from isicseg.engine import EpochBatchSampler


def test_sampler_balanced_needs_labels():
    with pytest.raises(ValueError, match="balanced sampling needs the items' labels"):
        EpochBatchSampler(4, 2, balanced=True)


def test_sampler_shards_cover_everything_with_equal_lengths():
    aspect = [1.5, 0.7, 1.3, 1.3, 0.6, 1.2, 0.8]
    shards = [EpochBatchSampler(7, 2, seed=3, aspect_ratios=aspect, rank=r, world_size=2) for r in (0, 1)]
    batches = [list(s) for s in shards]
    assert len(batches[0]) == len(batches[1]) == len(shards[0]) == 2
    seen = [i for b in batches for batch in b for i in batch]
    assert set(seen) == set(range(7)) and len(seen) == 8  # one index padded, like DistributedSampler
    shards[0].set_epoch(1)
    assert list(shards[0]) != batches[0]


def test_sampler_groups_by_aspect_ratio():
    aspect = [1.5, 0.7, 1.3, 1.3, 0.6, 1.2, 0.8, 0.9]
    batches = list(EpochBatchSampler(8, 2, seed=0, aspect_ratios=aspect))
    assert all(len({aspect[i] >= 1 for i in batch}) == 1 for batch in batches)
    assert sorted(i for b in batches for i in b) == list(range(8))


def test_balanced_sampler_evens_out_classes():
    labels = [2] * 10 + [1] * 90
    sampler = EpochBatchSampler(100, 10, seed=0, labels=labels, balanced=True)
    drawn = [labels[i] for epoch in range(20) for batch in (sampler.set_epoch(epoch) or sampler) for i in batch]
    share = drawn.count(2) / len(drawn)
    assert 0.42 < share < 0.58  # ~50% melanoma instead of 10%
    state = sampler.state_dict()
    other = EpochBatchSampler(100, 10, seed=99, labels=labels, balanced=True)
    other.load_state_dict(state)
    assert list(other) == list(sampler)
