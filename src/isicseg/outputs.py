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

Two rules hold for every command that writes (``export``, ``predict``, ``evaluate``,
``synth``, ``download`` and ``train``'s run folder):

* **An output never replaces an input** (:func:`check_apart`): a path the command replaces
  may not be, hold, or lie inside any of its inputs, and a folder it writes into may not be
  or lie inside one, following symbolic links; a file it replaces may not be a hard link of
  an input. This is checked before anything is written.
* **One writer per output folder** (:func:`output_lock`): the command holds an ``flock`` on
  ``<folder>/.isicseg.lock`` while it writes; a second process is refused, naming the pid of
  the first. The operating system drops the lock when its holder exits (also on ``kill -9``),
  so only staging left by a process that is gone is ever cleaned up.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .exceptions import ConfigError

__all__ = ["LOCK_NAME", "check_apart", "check_output_folder", "created_file_mode", "output_lock", "staged_output"]

STAGING_PREFIX = ".isicseg-staging-"
"""Name prefix of the staging folders (a killed command may leave one; the next run that holds the
folder's lock removes it)."""

LOCK_NAME = ".isicseg.lock"
"""The file in an output folder (a run folder too) that a writing process holds an ``flock`` on."""


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


def _hard_link_inside(folder: Path, inode: tuple[int, int]) -> Path | None:
    """A file under ``folder`` that is the file ``inode`` (``(st_dev, st_ino)``), if any."""
    for parent, _, names in os.walk(folder):
        for name in names:
            found = _stat(Path(parent) / name)
            if found is not None and (found.st_dev, found.st_ino) == inode:
                return Path(parent) / name
    return None


def check_apart(
    inputs: Iterable[str | Path],
    *,
    replaced: Iterable[str | Path] = (),
    into: Iterable[str | Path] = (),
    command: str,
    advice: str = "choose another --out",
) -> None:
    """Refuse outputs that would replace or write into an input; change nothing.

    Paths are compared after following symbolic links, and files by their inode (hard links).

    Args:
        inputs: Files and folders the command reads.
        replaced: Files and folders the command replaces: none may be, hold or lie inside an
            input, nor be (or hold) a hard link of an input file.
        into: Folders the command writes new entries into: none may be or lie inside an input.
        command: The command's name, for messages.
        advice: What to do instead, for messages.

    Raises:
        ConfigError: Naming the output, the input and how they meet.

    Example:
        >>> folder = getfixture("tmp_path")
        >>> _ = (folder / "best.pt").write_bytes(b"weights")
        >>> check_apart([folder / "best.pt"], replaced=[folder / "best.pt"], command="export")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.ConfigError: export: output .../best.pt is the input .../best.pt; ...
    """
    replaced, into = [Path(p) for p in replaced], [Path(p) for p in into]
    for item in inputs:
        given = Path(item)
        real, info = given.resolve(), _stat(given)
        inode = (info.st_dev, info.st_ino) if info is not None and stat.S_ISREG(info.st_mode) else None
        for out in (*into, *replaced):  # the folder written into first: the message names it
            target, relation = out.resolve(), ""
            if target == real:
                relation = "is"
            elif real in target.parents:
                relation = "lies inside"
            elif out in replaced and target in real.parents:
                relation = "holds"
            elif out in replaced and inode is not None:
                found = _stat(out)
                if found is not None and stat.S_ISREG(found.st_mode) and (found.st_dev, found.st_ino) == inode:
                    relation = "is a hard link of"
                elif found is not None and stat.S_ISDIR(found.st_mode) and info is not None and info.st_nlink > 1:
                    link = _hard_link_inside(out, inode)
                    relation = f"holds {link}, a hard link of" if link is not None else ""
            if relation:
                raise ConfigError(
                    f"{command}: output {out} {relation} the input {given}; {command} would "
                    f"{'replace' if out in replaced else 'write into'} it. An output never replaces an input: "
                    f"{advice}."
                )


def created_file_mode(mode: int = 0o666) -> int:
    """The permissions ``open()`` would give a new file under this process's umask (temporary files are made
    0600; a finished output is given these before it is renamed into place)."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
        umask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return mode & ~umask


@contextmanager
def output_lock(
    folder: str | Path,
    command: str,
    *,
    what: str = "Output folder",
    advice: str = "choose another --out",
    name: str = LOCK_NAME,
) -> Iterator[None]:
    """Hold ``folder`` for this process while ``command`` writes there; a second writer is refused, naming the first.

    The lock is an ``flock`` on ``<folder>/.isicseg.lock`` (the folder is created when
    missing): the operating system drops it when the holder exits, also on ``kill -9``, so
    a crashed command never leaves a stale lock, and the lock file is removed when the
    holder is done. (Where ``fcntl`` does not exist, on Windows, no lock is taken.) With
    another ``name``, one file's lock, as ``export`` takes beside the file it writes.

    Raises:
        ConfigError: If another process holds the folder (naming its command and pid), or the
            folder cannot be written.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = Path(folder)
    path = folder / name
    for _ in range(100):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+")
        except OSError as error:
            raise ConfigError(
                f"Cannot write into {what.lower()} {folder} ({error.strerror or error}); nothing was changed there."
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            held = folder if name == LOCK_NAME else folder / name.removesuffix(".isicseg.lock")[1:]
            raise ConfigError(
                f"{what} {held} is in use by {holder}; two processes writing there would wreck each other's files. "
                f"Wait for it to finish, or {advice}."
            ) from None
        here = _stat(path)
        if here is not None and here.st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the lock file was removed by the holder we waited on: lock the new one
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"isicseg {command} (pid {os.getpid()} on {socket.gethostname()}, "
            f"since {time.strftime('%Y-%m-%d %H:%M:%S')})\n"
        )
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # leave nothing behind; a waiter that opened it relocks the new file
            fcntl.flock(handle, fcntl.LOCK_UN)


def _listing(out: Path) -> list[str]:
    try:
        return sorted(p.name for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX) and p.name != LOCK_NAME)
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
        inputs: Files or folders the command reads: ``out`` may not be or lie inside one, and
            no entry it replaces may be, hold or lie inside one (see :func:`check_apart`).

    Raises:
        ConfigError: If ``out`` is a file, is not empty without ``overwrite``, or meets an input.

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
    check_apart(inputs, replaced=[out / name for name in owned], into=[out], command=command)
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
    ones; when it raises, ``out`` is left as it was (see the module docstring). The
    folder's lock (:func:`output_lock`) is held throughout.

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
    with output_lock(out, command):
        check_output_folder(out, owned, overwrite=overwrite, command=command, inputs=inputs)  # as it is now, held
        try:
            for stale in out.glob(f"{STAGING_PREFIX}*"):  # the lock is ours: no live process writes there
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
            if created and [p.name for p in out.iterdir()] == [LOCK_NAME]:
                shutil.rmtree(out)  # made for this command, which failed: leave no empty folder behind
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
