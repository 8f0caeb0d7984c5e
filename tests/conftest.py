from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from isicseg.data.synthetic import write_synthetic_isic

from . import release_server

TESTS = Path(__file__).parent
MINI_ROOT = TESTS / "data" / "isic2017-mini"
SAMPLE_ROOT = TESTS.parent.parent / "shared" / "isic2017-sample"

pytest_plugins = ["pytester"]  # tests/unit/test_conftest.py runs inner sessions

torch.set_num_threads(2)
# CI machines are noisy: no per-example deadline, and a fixed number of examples
settings.register_profile("isicseg", deadline=None, max_examples=100)
settings.load_profile("isicseg")

# scripts run in subprocesses by the tests, and test data: not test modules
collect_ignore = [
    "integration/ddp_script.py",
    "integration/ddp_nonfinite_script.py",
    "integration/train_script.py",
    "data",
]


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """Small synthetic ISIC data: 10 train, 4 validation, 4 test images of 96x128."""
    return write_synthetic_isic(
        tmp_path_factory.mktemp("synthetic"), num_images={"train": 10, "validation": 4, "test": 4}, image_size=(96, 128)
    )


@pytest.fixture
def mini_root(tmp_path) -> Path:
    """A writable copy of the six downscaled real ISIC files in tests/data."""
    return Path(shutil.copytree(MINI_ROOT, tmp_path / "mini"))


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update(np=np, torch=torch)


@pytest.fixture(autouse=True)
def _rng_left_as_found():
    """Each test finds torch's, NumPy's and Python's global RNGs as the previous one found them.

    A test that seeds or draws (training does) would otherwise change what every later test
    draws, so that a test's result depended on which tests ran before it.
    """
    states = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
    yield
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


# the fake ISIC 2017 release and its local HTTP server (tests/release_server.py)


@pytest.fixture
def release_of_this_size(monkeypatch):
    """The fake release's CSVs list COUNTS images; no test waits for a retry."""
    monkeypatch.setattr("isicseg.data.download.OFFICIAL_COUNTS", release_server.COUNTS)
    monkeypatch.setattr("isicseg.data.download.BACKOFF", 0.0)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """The release's zips and CSVs, their MD5s, and the data they hold."""
    return release_server.build_release(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("release"))


@pytest.fixture
def server(release):
    running = release_server.Server(release[0])
    yield running
    running.close()
