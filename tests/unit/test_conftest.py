"""The suite's own guards (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

CONFTEST = Path(__file__).parents[1] / "conftest.py"


def test_a_test_that_seeds_or_draws_leaves_the_global_rngs_as_it_found_them(pytester):
    guard = (
        CONFTEST.read_text().split("@pytest.fixture(autouse=True)\ndef _rng_left_as_found", 1)[1].split("\n\n\n", 1)[0]
    )
    pytester.makeconftest(
        "import random\n\nimport numpy as np\nimport pytest\nimport torch\n\n\n@pytest.fixture(autouse=True)\ndef _rng_left_as_found"
        + guard
    )
    pytester.makepyfile(
        """
        import random

        import numpy as np
        import torch

        SEEN = []

        def test_first():
            SEEN.append((torch.rand(3), np.random.rand(3), random.random()))
            torch.manual_seed(123)
            np.random.seed(123)
            random.seed(123)

        def test_second():
            t, n, r = torch.rand(3), np.random.rand(3), random.random()
            assert torch.equal(t, SEEN[0][0]) and (n == SEEN[0][1]).all() and r == SEEN[0][2]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_passing_tests_temporary_folder_is_removed_and_a_failing_ones_kept(pytestconfig, pytester):
    # A full run writes ~24 GB under tmp_path (checkpoints, data roots); kept for three sessions it filled CI's disk.
    policy = pytestconfig.getini("tmp_path_retention_policy")
    pytester.makeini(f"[pytest]\ntmp_path_retention_policy = {policy}\n")
    pytester.makepyfile(
        """
        def test_passes(tmp_path):
            (tmp_path / "last.pt").write_bytes(bytes(1000))

        def test_fails(tmp_path):
            (tmp_path / "last.pt").write_bytes(bytes(1000))
            assert False
        """
    )
    base = pytester.path / "base"
    pytester.runpytest(f"--basetemp={base}").assert_outcomes(passed=1, failed=1)
    assert not (base / "test_passes0").exists()
    assert (base / "test_fails0" / "last.pt").is_file()
