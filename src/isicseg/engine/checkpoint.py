"""Writing checkpoints: one explicit dict, written atomically with a checksum of its weights.

They are read by :func:`isicseg.read_checkpoint`."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._integrity import DIGEST_KEY, weights_digest
from ..exceptions import CheckpointError
from ..outputs import created_file_mode

__all__ = ["save_checkpoint", "rng_state", "set_rng_state"]


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically.

    The dict is written to a temporary file in the same folder, flushed to disk, then
    renamed over ``path``; a process killed at any moment leaves either the previous
    file or the new one, never a partial file. Temporary files of killed writers are
    removed by the next write. Ctrl-C during the write takes effect when the file is
    complete (as a ``KeyboardInterrupt`` then), so an interruption never looks like a
    failed write. A ``model`` state dict is stored with its SHA-256
    (``model_sha256``), which :func:`~isicseg.read_checkpoint` checks.
    """
    path = Path(path)
    if isinstance(checkpoint.get("model"), dict):
        checkpoint = {**checkpoint, DIGEST_KEY: weights_digest(checkpoint["model"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer that was killed
        stale.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with _ctrl_c_after_the_write():
            with os.fdopen(handle, "wb") as stream:
                torch.save(checkpoint, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, created_file_mode())  # as open() would make it, not mkstemp's 0600
            os.replace(temporary, path)
    except BaseException as error:
        free = shutil.disk_usage(path.parent).free  # before the partial file goes: a full disk reads ~0 here
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, (OSError, RuntimeError)):  # torch reports a full disk as "unexpected pos ..."
            kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
            cause = (
                "No space left on device"
                if free < 64 * 2**20 or getattr(error, "errno", None) == errno.ENOSPC
                else f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            raise CheckpointError(
                f"{cause} while writing {path} ({free / 2**20:.0f} MB free there); {kept}."
            ) from error
        raise
    return path


@contextmanager
def _ctrl_c_after_the_write() -> Iterator[None]:
    """Hold SIGINT while a checkpoint is written, and raise ``KeyboardInterrupt`` after it if one came.

    torch's writer turns an exception raised inside it into ``RuntimeError: [enforce fail
    at inline_container.cc ...]``; holding the signal keeps Ctrl-C a Ctrl-C. Outside the
    main thread signals cannot be handled, and nothing changes.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def rng_state() -> dict[str, Any]:
    """Every RNG state that training consumes: Python, NumPy, torch CPU and CUDA."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
