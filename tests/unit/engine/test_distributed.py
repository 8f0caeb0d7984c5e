"""The process group's lifetime (the two-process behaviour is in tests/integration/test_distributed.py)."""

from __future__ import annotations

import torch

from isicseg.engine import distributed


def test_a_group_created_by_init_distributed_is_closed_at_exit_and_shutdown_is_a_noop_without_one(monkeypatch):
    created, registered = [], []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: created.append(backend))
    monkeypatch.setattr(distributed.atexit, "register", registered.append)

    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.init_distributed(torch.device("cpu")) is False
    assert created == [] and registered == []  # one process: no group, nothing to close

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.init_distributed(torch.device("cpu")) is True
    assert created == ["gloo"] and registered == [distributed.shutdown_distributed]

    distributed.shutdown_distributed()  # no group is open in this process: nothing happens
    distributed.shutdown_distributed()
    assert not distributed.is_distributed() and distributed.world_size() == 1
