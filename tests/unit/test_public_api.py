"""Public API guard: fails when a public name disappears or its signature changes.

After a deliberate change, regenerate the snapshot and review its diff:

    python tests/unit/test_public_api.py --update
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("public_api.json")
MODULES = [
    "isicseg",
    "isicseg.data",
    "isicseg.data.download",
    "isicseg.models",
    "isicseg.models.heads",
    "isicseg.transforms",
    "isicseg.config",
    "isicseg.run",
    "isicseg.engine",
    "isicseg.engine.distributed",
    "isicseg.callbacks",
    "isicseg.metrics",
    "isicseg.evaluation",
    "isicseg.inference",
    "isicseg.viz",
    "isicseg.logs",
    "isicseg.registry",
    "isicseg.ops",
    "isicseg.exceptions",
    "isicseg.outputs",
    "isicseg.data.synthetic",
    "isicseg.data.ham10000",
    "isicseg.data.splits",
    "isicseg.data.sources",
    "isicseg.metrics.intervals",
    "isicseg.labels",
    "isicseg.checkpoint",
    "isicseg.identity",
]


def describe(obj) -> str:
    if inspect.isclass(obj):
        members = {
            name: str(inspect.signature(member))
            for name, member in vars(obj).items()
            if not name.startswith("_") and inspect.isfunction(member)
        }
        init = str(inspect.signature(obj)) if "__init__" in vars(obj) or hasattr(obj, "__dataclass_fields__") else "()"
        return f"class{init} " + json.dumps(members, sort_keys=True)
    if callable(obj):
        try:
            return f"function{inspect.signature(obj)}"
        except (TypeError, ValueError):
            return "callable"
    return f"value:{type(obj).__name__}"


def current() -> dict[str, dict[str, str]]:
    import importlib

    api = {}
    for name in MODULES:
        module = importlib.import_module(name)
        public = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        api[name] = {n: describe(getattr(module, n)) for n in sorted(public) if n != "__version__"}
    return api


def test_public_api_matches_snapshot():
    saved = json.loads(SNAPSHOT.read_text())
    now = current()
    removed = [f"{m}.{n}" for m in saved for n in saved[m] if n not in now.get(m, {})]
    changed = [
        f"{m}.{n}: {saved[m][n]} -> {now[m][n]}"
        for m in saved
        for n in saved[m]
        if n in now.get(m, {}) and now[m][n] != saved[m][n]
    ]
    assert not removed, f"public names removed: {removed}"
    assert not changed, "public signatures changed:\n" + "\n".join(changed)
    added = [f"{m}.{n}" for m in now for n in now[m] if n not in saved.get(m, {})]
    assert not added, f"new public names {added}: add them to the snapshot with --update"


def test_every_module_declares_all():
    import importlib

    for name in MODULES:
        assert hasattr(importlib.import_module(name), "__all__"), name


if __name__ == "__main__" and "--update" in sys.argv:
    SNAPSHOT.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
