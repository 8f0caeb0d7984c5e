"""Group-aware splits: every image of one lesion stays on one side.

HAM10000 holds several images of most lesions (10015 images of 7470 lesions). A held-out
set, a fold or a subset that puts one lesion's images on both sides scores the model on
lesions it trained on. These functions split *groups* (lesion ids), stratified by label,
and return item indices; for data with one image per lesion, pass the image ids as groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from ..exceptions import ConfigError

__all__ = ["grouped_folds", "grouped_holdout", "grouped_subset"]


def _groups_by_label(groups: Sequence[Hashable], labels: Sequence[Hashable]) -> dict[Hashable, list[Hashable]]:
    if len(groups) != len(labels):
        raise ConfigError(f"groups and labels must have one entry per item; got {len(groups)} and {len(labels)}.")
    label_of: dict[Hashable, Hashable] = {}
    for group, label in zip(groups, labels):
        label_of.setdefault(group, label)  # a lesion with images of two labels is stratified by its first
    by_label: dict[Hashable, list[Hashable]] = defaultdict(list)
    for group in sorted(label_of, key=str):
        by_label[label_of[group]].append(group)
    return by_label


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an int in 0..2**32-1; got {seed!r}.")


def grouped_folds(groups: Sequence[Hashable], labels: Sequence[Hashable], *, k: int, seed: int = 0) -> list[list[int]]:
    """``k`` folds of item indices; each group lies in exactly one fold, and each label's groups are spread evenly.

    Example:
        >>> folds = grouped_folds(["a", "a", "b", "c", "d"], [1, 1, 0, 1, 0], k=2)
        >>> sorted(sum(folds, [])), any({0, 1} <= set(fold) for fold in folds)  # both images of "a" in one fold
        ([0, 1, 2, 3, 4], True)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"k must be an int >= 2; got {k!r}.")
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    fold_of: dict[Hashable, int] = {}
    offset = 0
    for _label, members in sorted(_groups_by_label(groups, labels).items(), key=lambda item: str(item[0])):
        for position, index in enumerate(rng.permutation(len(members))):
            fold_of[members[index]] = (position + offset) % k
        offset += len(members)  # the next label starts where this one stopped: folds stay balanced in size
    if len(set(fold_of.values())) < k:
        raise ConfigError(f"k={k} folds need at least {k} groups; got {len(fold_of)}.")
    folds: list[list[int]] = [[] for _ in range(k)]
    for index, group in enumerate(groups):
        folds[fold_of[group]].append(index)
    return folds


def grouped_holdout(
    groups: Sequence[Hashable], labels: Sequence[Hashable], *, fraction: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """``(kept, held_out)`` item indices: ``fraction`` of the groups are held out, whole, stratified by label.

    The number of groups held out is ``round(fraction x groups)``, at least 1 and at most all
    but one, so neither side is ever empty; it is shared among the labels in proportion to
    their groups (largest remainders), so a label with one group is not rounded away unnoticed.

    Raises:
        ConfigError: For a ``fraction`` outside (0, 1), or fewer than 2 groups (one lesion
            cannot be on both sides).

    Example:
        >>> kept, held = grouped_holdout(["a", "a", "b", "c", "d", "e"], [1, 1, 0, 1, 0, 0], fraction=0.5)
        >>> sorted(kept + held), ({0, 1} <= set(kept)) or ({0, 1} <= set(held))
        ([0, 1, 2, 3, 4, 5], True)
        >>> len(grouped_holdout(["a", "b"], ["x", "y"], fraction=0.5)[1])  # one label each: still one held out
        1
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"fraction must be a number in (0, 1); got {fraction!r}.")
    _check_seed(seed)
    by_label = sorted(_groups_by_label(groups, labels).items(), key=lambda item: str(item[0]))
    total = sum(len(members) for _, members in by_label)
    if total < 2:
        raise ConfigError(
            f"A hold-out needs at least 2 groups (lesions), one on each side; got {total}. Use all the data for "
            "training, or add data."
        )
    target = min(total - 1, max(1, round(fraction * total)))
    quotas = [fraction * len(members) * target / (fraction * total) for _, members in by_label]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: target - sum(counts)]:
        counts[i] += 1
    rng = np.random.default_rng(seed)
    held_groups: set[Hashable] = set()
    for (_label, members), count in zip(by_label, counts):
        held_groups.update(members[i] for i in rng.permutation(len(members))[:count])
    kept = [i for i, group in enumerate(groups) if group not in held_groups]
    held = [i for i, group in enumerate(groups) if group in held_groups]
    return kept, held


def grouped_subset(groups: Sequence[Hashable], count: int, *, seed: int = 0) -> list[int]:
    """Item indices of whole groups drawn in a seeded order until at least ``count`` items are taken (sorted).

    Example:
        >>> grouped_subset(["a", "a", "b", "c"], 1, seed=0) in ([0, 1], [2], [3])
        True
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= len(groups):
        raise ConfigError(f"subset={count!r} is outside 1..{len(groups)} (the data has {len(groups)} images).")
    _check_seed(seed)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    order = sorted(members, key=str)
    chosen: list[int] = []
    for position in np.random.default_rng(seed).permutation(len(order)):
        chosen += members[order[position]]
        if len(chosen) >= count:
            break
    return sorted(chosen)
