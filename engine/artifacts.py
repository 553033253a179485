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
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never half.

    Raises:
        OSError: The write or the rename failed; the temporary file is removed and ``path``
            keeps its old contents.
    """
    _replace_all([(Path(path), data)])


def write_with_sidecar(path: str | Path, data: bytes) -> str:
    """Atomically write ``data`` and its sidecar; returns the digest.

    Both temporary files are written before either is renamed, so a failed write (disk full,
    permissions) leaves the old file and sidecar as they were. Only a failure between the two
    renames leaves a new file beside an old sidecar, which :func:`read_verified` then refuses.

    Raises:
        OSError: A write or rename failed; the temporary files are removed.
    """
    p = Path(path)
    digest = sha256_bytes(data)
    _replace_all([(p, data), (sidecar_path(p), f"{digest}  {p.name}\n".encode())])
    return digest


def _replace_all(files: list[tuple[Path, bytes]]) -> None:
    """Write each ``(path, data)`` to a temp file beside it, then rename them all into place."""
    pending: list[tuple[Path, Path]] = []  # (temp, target) not yet renamed
    try:
        for path, data in files:
            pending.append((_write_temp(path, data), path))
        while pending:
            os.replace(*pending[0])
            pending.pop(0)
    finally:
        # Only temps a failure left behind: a renamed one's name may already be another's.
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)


def _write_temp(path: Path, data: bytes) -> Path:
    """``data``, fsynced, in a new temp file in ``path``'s directory; removed if writing fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def sidecar_digest(path: str | Path) -> str:
    """The sha256 (lower-case hex) that the sidecar of ``path`` records.

    Raises:
        ChecksumMismatchError: the sidecar is missing or unreadable.
    """
    p = Path(path)
    side = sidecar_path(p)
    try:
        return side.read_text(encoding="ascii").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise ChecksumMismatchError(
            f"{p.name}: no readable checksum sidecar {side.name}; refusing to load an "
            "unverified artifact"
        ) from exc


def verify_digest(data: bytes, expected: str, *, name: str, source: str = "sidecar") -> None:
    """Check that ``data`` hashes to ``expected`` (hex, any case).

    Args:
        data: The bytes about to be used.
        expected: The sha256 they must have.
        name: Shown in the error (the file name).
        source: Where ``expected`` came from, for the error ("sidecar", "expected").

    Raises:
        ChecksumMismatchError: the digests differ.
    """
    actual = sha256_bytes(data)
    if actual != expected.strip().lower():
        raise ChecksumMismatchError(
            f"{name}: sha256 {actual[:16]}… does not match {source} {expected[:16]}… "
            "(file truncated or tampered with)"
        )


def read_verified(path: str | Path) -> bytes:
    """Read a file whose bytes match its sidecar.

    Raises:
        ChecksumMismatchError: the sidecar is missing, unreadable, or names another digest.
        FileNotFoundError: the file itself does not exist.
    """
    p = Path(path)
    data = p.read_bytes()
    verify_digest(data, sidecar_digest(p), name=p.name)
    return data
