"""Integrity of artifacts on disk: sha256 sidecars and atomic writes.

Every artifact (checkpoint, rule set) has a sidecar ``<file>.sha256`` holding
``<hex digest>  <file name>`` (the ``sha256sum`` format, so ``sha256sum -c`` can check it too).
A file is only read after its bytes match its sidecar.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from engine.errors import ChecksumMismatchError

SIDECAR_SUFFIX = ".sha256"
_CHUNK = 1 << 20


def sidecar_path(path: str | Path) -> Path:
    """Path of the checksum sidecar of ``path``."""
    p = Path(path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's contents, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never half."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_with_sidecar(path: str | Path, data: bytes) -> str:
    """Atomically write ``data`` and its sidecar; returns the digest."""
    digest = sha256_bytes(data)
    atomic_write(path, data)
    atomic_write(sidecar_path(path), f"{digest}  {Path(path).name}\n".encode())
    return digest


def read_verified(path: str | Path) -> bytes:
    """Read a file whose bytes match its sidecar.

    Raises:
        ChecksumMismatchError: the sidecar is missing, unreadable, or names another digest.
        FileNotFoundError: the file itself does not exist.
    """
    p = Path(path)
    data = p.read_bytes()
    side = sidecar_path(p)
    try:
        expected = side.read_text(encoding="ascii").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise ChecksumMismatchError(
            f"{p.name}: no readable checksum sidecar {side.name}; refusing to load an "
            "unverified artifact"
        ) from exc
    actual = sha256_bytes(data)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{p.name}: sha256 {actual[:16]}… does not match sidecar {expected[:16]}… "
            "(file truncated or tampered with)"
        )
    return data
