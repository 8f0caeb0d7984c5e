"""What the experiment scripts share: the shared-data root, the ImageNet file in a temporary TORCH_HOME, tables.

Experiments use isicseg's public API; nothing here is imported by the library or its tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

SHARED = Path(os.environ.get("ISICSEG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
"""The project's shared data (``../shared`` beside the repository, or ``$ISICSEG_SHARED``)."""


def use_weight_file(weights: Path) -> Path:
    """Copy ``weights`` into a fresh temporary ``hub/checkpoints/`` and point TORCH_HOME there (removed at exit)."""
    if not weights.is_file():
        raise SystemExit(f"{weights} is missing: the experiment needs torchvision's ImageNet file there.")
    torch_home = Path(tempfile.mkdtemp(prefix="torch_home_"))
    atexit.register(shutil.rmtree, torch_home, ignore_errors=True)
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(weights, torch_home / "hub" / "checkpoints" / weights.name)
    os.environ["TORCH_HOME"] = str(torch_home)
    return torch_home


def print_and_save(table: pd.DataFrame, path: Path) -> None:
    """Print ``table`` as Markdown and write it as CSV beside ``path``'s Markdown copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path.with_suffix(".csv"), index=False)
    text = table.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else table.to_string(index=False)
    path.with_suffix(".md").write_text(text + "\n")
    print(text, flush=True)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
