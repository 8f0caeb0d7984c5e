"""Results folders that are replaced whole or not at all.

Every command that writes results (``evaluate``, ``predict``, ``synth``, and
:func:`~isicseg.evaluate` with ``out_dir``) follows one rule:

1. **Check first.** The output folder must be empty, or ``overwrite`` must be given; the
   inputs must lie outside what will be replaced; then the command checks its own
   settings, weights and inputs. Nothing on disk changes while any check can fail.
2. **Write beside the target.** The new results go into a hidden staging folder inside
   the output folder (``.isicseg-staging-<command>-*``).
3. **Swap in at the end.** Only after every result was written are the entries the
   command owns (e.g. ``masks/``, ``predictions.csv``) moved out of the way and the new
   ones renamed in. A command that fails or is interrupted leaves the earlier results as
   they were, and no partial new ones.

Files and folders the command does not write are never touched, and only entries named
in ``owned`` are ever replaced.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .exceptions import ConfigError

__all__ = ["check_output_folder", "staged_output"]

STAGING_PREFIX = ".isicseg-staging-"
"""Name prefix of the staging folders (a killed command may leave one; the next run removes it)."""


def _listing(out: Path) -> list[str]:
    try:
        return sorted(p.name for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX))
    except OSError as error:
        raise ConfigError(
            f"Output folder {out} cannot be listed ({error.strerror or error}); check its permissions."
        ) from None


def check_output_folder(
    out: str | Path, owned: Iterable[str], *, overwrite: bool, command: str, inputs: Iterable[str | Path] = ()
) -> None:
    """Refuse an output folder the command may not write into; change nothing.

    Args:
        out: The output folder (need not exist).
        owned: The names the command writes in ``out`` (and replaces with ``overwrite``).
        overwrite: Allow a non-empty ``out``; the entries in ``owned`` will be replaced.
        command: The command's name, for messages.
        inputs: Files or folders the command reads; none may lie inside an entry it replaces.

    Raises:
        ConfigError: If ``out`` is a file, is not empty without ``overwrite``, or holds an input.

    Example:
        >>> out = getfixture("tmp_path")
        >>> _ = (out / "summary.json").write_text("{}")
        >>> check_output_folder(out, ["summary.json"], overwrite=False, command="evaluate")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: Output folder ... is not empty (holds summary.json); evaluate would mix ...
    """
    out, owned = Path(out), tuple(owned)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; {command} writes a folder there. Choose a folder for --out.")
    replaced = [(out / name).resolve() for name in owned]
    for item in inputs:
        path = Path(item).resolve()
        for target in replaced:
            if path == target or target in path.parents:
                raise ConfigError(
                    f"Input {item} lies inside {target}, which {command} replaces with its results; "
                    f"move the input elsewhere or choose another --out."
                )
    present = _listing(out) if out.is_dir() else []
    if present and not overwrite:
        raise ConfigError(
            f"Output folder {out} is not empty (holds {', '.join(present[:5])}{' ...' if len(present) > 5 else ''}); "
            f"{command} would mix its results with those files. Pass --overwrite (overwrite=True) to replace what "
            f"{command} "
            f"writes there ({', '.join(owned)}), or choose another --out."
        )


@contextmanager
def staged_output(
    out: str | Path, owned: Iterable[str], *, overwrite: bool, command: str, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """Write a command's results into a staging folder, then swap them into ``out``.

    Yields the staging folder; write the entries of ``owned`` there. When the block ends
    without an error, the old entries of ``owned`` in ``out`` are replaced by the new
    ones; when it raises, ``out`` is left as it was (see the module docstring).

    Example:
        >>> out = getfixture("tmp_path") / "results"
        >>> with staged_output(out, ["a.txt"], overwrite=False, command="demo") as staging:
        ...     _ = (staging / "a.txt").write_text("new")
        >>> (out / "a.txt").read_text(), [p.name for p in out.iterdir()]
        ('new', ['a.txt'])
    """
    out, owned = Path(out), tuple(owned)
    check_output_folder(out, owned, overwrite=overwrite, command=command, inputs=inputs)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(f"{STAGING_PREFIX}{command}-*"):  # left by a killed run of this command
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{command}-", dir=out))
    except OSError as error:
        raise ConfigError(
            f"Cannot write into output folder {out} ({error.strerror or error}); nothing was changed there."
        ) from None
    try:
        yield staging
        _swap_in(staging, out, owned)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()  # made for this command, which failed: leave no empty folder behind
        raise
    shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out: Path, owned: tuple[str, ...]) -> None:
    """Move the old entries of ``owned`` into ``staging/.old`` and the new ones into ``out``.

    Renames within one folder: each is atomic, and a failure half-way puts the old
    entries back.
    """
    old = staging / ".old"
    old.mkdir()
    moved: list[str] = []
    placed: list[str] = []
    try:
        for name in owned:
            if (out / name).exists() or (out / name).is_symlink():
                (out / name).rename(old / name)
                moved.append(name)
        for name in owned:
            if (staging / name).exists():
                (staging / name).rename(out / name)
                placed.append(name)
    except BaseException:
        for name in placed:
            (out / name).rename(staging / name)
        for name in moved:
            (old / name).rename(out / name)
        raise
