"""Advisory locks on an artifact directory, so pruning never deletes a file being loaded.

Loaders take a **shared** lock on ``<dir>/.prune.lock`` while they read an artifact; the pruner
takes the **exclusive** lock for the whole delete step. Any number of loaders run together; a
prune waits for them (and they for it). The locks are ``fcntl.flock`` locks: they are released
when the holder's file descriptor closes, so a crashed process never leaves a stale lock behind.
``flock`` is reliable on local file systems; on NFS it depends on the server (see
docs/lifecycle.md).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from engine.errors import EngineError

log = logging.getLogger(__name__)

LOCK_NAME = ".prune.lock"
_POLL_S = 0.02


class ArtifactLockTimeoutError(EngineError):
    """The artifact directory's lock was not obtained in time."""


def lock_path(directory: str | Path) -> Path:
    """Path of the lock file of an artifact directory."""
    return Path(directory) / LOCK_NAME


def _open_lock(directory: Path, *, create: bool) -> int | None:
    path = lock_path(directory)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o664) if create else os.open(path, os.O_RDWR)
    except OSError:
        pass
    try:
        # A read-only volume still allows flock on a read-only descriptor.
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


@contextmanager
def _flock(directory: str | Path, mode: int, timeout_s: float | None, what: str) -> Iterator[None]:
    d = Path(directory)
    fd = _open_lock(d, create=mode == fcntl.LOCK_EX or d.is_dir())
    if fd is None:
        # No lock file and no right to create one: nobody with our view of the volume can prune
        # it either, so reading unlocked is safe.
        log.debug("no lock file in %s; %s lock skipped", d, what)
        yield
        return
    try:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    holder = "a prune is running" if what == "shared" else "loads in progress"
                    raise ArtifactLockTimeoutError(
                        f"{d}: {what} lock not obtained in {timeout_s:g} s ({holder})"
                    ) from None
                time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def shared_lock(
    directory: str | Path, timeout_s: float | None = 60.0
) -> AbstractContextManager[None]:
    """Hold a shared lock on ``directory`` while loading from it (context manager).

    Raises:
        ArtifactLockTimeoutError: a prune held the exclusive lock for longer than ``timeout_s``.
    """
    return _flock(directory, fcntl.LOCK_SH, timeout_s, "shared")


def exclusive_lock(
    directory: str | Path, timeout_s: float | None = 10.0
) -> AbstractContextManager[None]:
    """Hold the exclusive lock on ``directory`` while deleting from it (context manager).

    Raises:
        ArtifactLockTimeoutError: loaders held shared locks for longer than ``timeout_s``.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    return _flock(directory, fcntl.LOCK_EX, timeout_s, "exclusive")
