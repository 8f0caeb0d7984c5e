"""Import rules between isicseg's layers, read from the source (every import, also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import isicseg

PACKAGE = Path(isicseg.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The isicseg modules ``path`` imports; ``from .. import x`` of the package counts as the facade ``isicseg``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "isicseg"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "isicseg":
                continue
            if node.module is None:  # from .. import x: the module x, or a name of the package's facade
                for alias in node.names:
                    sub = PACKAGE.parent.joinpath(*target.split("."), alias.name)
                    found.add(f"{target}.{alias.name}" if sub.is_dir() or sub.with_suffix(".py").is_file() else target)
            else:
                found.add(target)
    return found


def layer_imports(layer: str) -> dict[str, set[str]]:
    files = sorted((PACKAGE / layer).rglob("*.py")) if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]
    return {_module_name(path): imports_of(path) for path in files}


def test_imports_are_read_with_relative_levels_resolved():
    found = imports_of(PACKAGE / "engine" / "trainer.py")
    assert "isicseg.ops" in found and "isicseg.engine.config" in found and "isicseg._version" in found
    assert "isicseg.viz" in imports_of(
        PACKAGE / "evaluation" / "report.py"
    )  # from .. import viz: a module, not the facade


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("engine", ("isicseg.data", "isicseg.evaluation", "isicseg.run", "isicseg.cli", "isicseg.inference")),
        ("evaluation", ("isicseg.engine", "isicseg.run", "isicseg.cli")),
        (
            "metrics",
            ("isicseg.engine", "isicseg.evaluation", "isicseg.data", "isicseg.models", "isicseg.run", "isicseg.cli"),
        ),
        ("models", ("isicseg.engine", "isicseg.evaluation", "isicseg.run", "isicseg.cli")),
        (
            "data",
            (
                "isicseg.engine",
                "isicseg.evaluation",
                "isicseg.models",
                "isicseg.inference",
                "isicseg.run",
                "isicseg.cli",
            ),
        ),
        *(
            (
                low,
                (
                    "isicseg.data",
                    "isicseg.engine",
                    "isicseg.evaluation",
                    "isicseg.models",
                    "isicseg.inference",
                    "isicseg.run",
                    "isicseg.cli",
                ),
            )
            for low in ("labels", "identity", "checkpoint")
        ),
    ],
)
def test_a_layer_imports_only_what_lies_below_it(layer, forbidden):
    breaks = {
        module: sorted(t for t in targets if t == "isicseg" or t.startswith(forbidden))
        for module, targets in layer_imports(layer).items()
    }
    assert {m: t for m, t in breaks.items() if t} == {}
