"""A deterministic, resumable batch sampler: seeded per epoch, aspect-ratio grouped,
optionally class-balanced, sharded across processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..exceptions import ConfigError

__all__ = ["EpochBatchSampler"]


class EpochBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of dataset indices that depend only on ``(seed, epoch)``.

    That makes resuming exact: the sampler's whole state is its epoch. Each epoch

    1. orders the indices by a permutation drawn from ``seed + epoch`` or, with
       ``balanced``, draws ``len(dataset)`` indices with replacement, each with
       probability inverse to its class frequency, or, with ``shares``, draws
       ``round(share x num_draws)`` indices of each group (a source), each group's
       indices in a fresh permutation (repeated when the group is too small), then
       shuffles them together;
    2. with several processes, pads the order to a multiple of ``world_size`` and keeps
       every ``world_size``-th index starting at ``rank`` (as ``DistributedSampler``);
    3. with ``aspect_ratios``, fills separate batches for landscape and portrait images
       and batches the leftovers together, so every process gets the same number of
       batches, ``ceil(shard / batch_size)``.

    Args:
        num_items: Dataset length.
        batch_size: Indices per batch.
        seed: Base seed.
        labels: Class of each item (needed for ``balanced``).
        aspect_ratios: Width / height of each item (``None``: no grouping).
        balanced: Class-balanced sampling.
        groups: Group (source) of each item (needed for ``shares``).
        shares: ``{group: share of an epoch}``, shares summing to 1.
        num_draws: Indices per epoch with ``shares`` (default ``num_items``).
        rank: This process's rank.
        world_size: Number of processes.

    Example:
        >>> sampler = EpochBatchSampler(5, 2, seed=0)
        >>> sampler.set_epoch(0); first = list(sampler)
        >>> sampler.set_epoch(0); first == list(sampler)
        True
        >>> sorted(i for batch in first for i in batch)
        [0, 1, 2, 3, 4]
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        labels: Sequence[int] | None = None,
        aspect_ratios: Sequence[float] | None = None,
        balanced: bool = False,
        groups: Sequence[Any] | None = None,
        shares: dict[Any, float] | None = None,
        num_draws: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if balanced and labels is None:
            raise ConfigError("balanced sampling needs the items' labels.")
        if shares is not None:
            if groups is None or len(groups) != num_items:
                raise ConfigError("sampling by shares needs the group (source) of every item.")
            unknown = sorted(map(str, set(shares) - set(groups)))
            if unknown:
                raise ConfigError(
                    f"shares name groups that no item belongs to: {', '.join(unknown)}; groups present: "
                    f"{', '.join(sorted(map(str, set(groups))))}."
                )
        self.groups = list(groups) if groups is not None else None
        self.shares = dict(shares) if shares is not None else None
        self.num_draws = num_draws if num_draws is not None else num_items
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.labels = list(labels) if labels is not None else None
        self.aspect_ratios = list(aspect_ratios) if aspect_ratios is not None else None
        self.balanced = balanced
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])

    def _order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.shares is not None:
            order = self._draw_by_shares(generator)
        elif self.balanced:
            labels = torch.tensor(self.labels)
            counts = torch.bincount(labels)
            weights = 1.0 / counts[labels].double()
            order = torch.multinomial(weights, self.num_items, replacement=True, generator=generator).tolist()
        else:
            order = torch.randperm(self.num_items, generator=generator).tolist()
        if self.world_size > 1:
            shard = -(-len(order) // self.world_size)
            order = (order * self.world_size)[: shard * self.world_size]
            order = order[self.rank :: self.world_size]
        return order

    def _draw_by_shares(self, generator: torch.Generator) -> list[int]:
        members: dict[Any, list[int]] = {}
        for index, group in enumerate(self.groups):
            members.setdefault(group, []).append(index)
        drawn: list[int] = []
        for group, share in self.shares.items():
            indices, count = members[group], round(share * self.num_draws)
            while count > 0:  # fresh permutations until the group's count is reached
                take = torch.randperm(len(indices), generator=generator)[:count].tolist()
                drawn += [indices[i] for i in take]
                count -= len(take)
        return [drawn[i] for i in torch.randperm(len(drawn), generator=generator).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        if self.aspect_ratios is None:
            for start in range(0, len(order), self.batch_size):
                yield order[start : start + self.batch_size]
            return
        buckets: dict[bool, list[int]] = {True: [], False: []}
        for index in order:
            bucket = buckets[self.aspect_ratios[index] >= 1.0]
            bucket.append(index)
            if len(bucket) == self.batch_size:
                yield list(bucket)
                bucket.clear()
        leftovers = buckets[True] + buckets[False]
        for start in range(0, len(leftovers), self.batch_size):
            yield leftovers[start : start + self.batch_size]

    def __len__(self) -> int:
        items = (
            sum(round(share * self.num_draws) for share in self.shares.values())
            if self.shares is not None
            else self.num_items
        )
        shard = -(-items // self.world_size)
        return -(-shard // self.batch_size)
