"""Resolve a command to one artifact file, deterministically and inside the artifact root.

Layout under the root (a shared volume in production)::

    field_detector/field_detector_v{version}_latest.pt
    translation_rules/translation_rules_{src}_to_{dst}_v{version}_acc{accuracy}_{YYYYmmdd_HHMMSS_ffffff}.json

(the rules name is written by ``engine.translation.store.rules_filename``; the ``_acc…`` part and
the microseconds are optional here).

Each artifact has a sidecar ``<artifact>.sha256`` holding ``<hex>  <filename>`` as
``sha256sum`` writes it. For rules the newest file is chosen by the timestamp *in the name*,
never by mtime, so every replica reading the same directory picks the same file.

Plain blocking file code: call it from a thread (``asyncio.to_thread``) inside the event loop.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Final

from engine.artifacts import sha256_file, sidecar_path
from streams.control.command import COMPONENTS, PAIR_RE, VERSION_RE
from streams.errors import CommandRejectedError

_SIDECAR_RE: Final = re.compile(r"^([0-9a-fA-F]{64})(?:[ \t]+\*?(\S.*))?$")
__all__ = ["ArtifactRoot", "sha256_file", "sidecar_path", "verify_sidecar"]


def verify_sidecar(path: Path) -> str:
    """Check ``path`` against its sidecar and return the verified hex digest.

    Raises:
        CommandRejectedError: ``checksum_missing`` if there is no readable, well-formed
            sidecar; ``checksum_mismatch`` if the digest or the file name in it differs.
    """
    side = sidecar_path(path)
    try:
        text = side.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandRejectedError("checksum_missing", f"no readable {side.name}") from exc
    match = _SIDECAR_RE.match(text)
    if match is None:
        raise CommandRejectedError("checksum_missing", f"{side.name} is not '<hex>  <name>'")
    expected, named = match.group(1).lower(), match.group(2)
    if named is not None and Path(named).name != path.name:
        raise CommandRejectedError("checksum_mismatch", f"{side.name} names {named!r}")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise CommandRejectedError("artifact_missing", f"cannot read {path.name}") from exc
    if actual != expected:
        raise CommandRejectedError("checksum_mismatch", f"{path.name}: sha256 {actual}")
    return actual


def _split_pair(pair: str | None) -> tuple[str, str]:
    if pair is None or not PAIR_RE.match(pair):
        raise CommandRejectedError("bad_pair", f"pair {pair!r} is not 'src->dst'")
    src, dst = pair.split("->")
    # 'a_to_b->c' and 'a->b_to_c' would name the same file; refuse rather than guess.
    if "_to_" in src or "_to_" in dst:
        raise CommandRejectedError("bad_pair", f"protocol names in {pair!r} contain '_to_'")
    return src, dst


class ArtifactRoot:
    """The directory every artifact must live in.

    Args:
        root: The artifact root; it is resolved (symlinks followed) once, here.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, component: str, version: str, pair: str | None = None) -> Path:
        """The real path of the artifact a command names.

        Args:
            component: ``field_detector`` or ``translation_rules``.
            version: Semantic version.
            pair: ``src->dst``, required for ``translation_rules``.

        Returns:
            The artifact's path with symlinks resolved (inside the root).

        Raises:
            CommandRejectedError: ``unknown_component``, ``bad_version``, ``bad_pair``,
                ``path_outside_root``, or ``artifact_missing``.
        """
        if component not in COMPONENTS:
            raise CommandRejectedError("unknown_component", repr(component))
        if not VERSION_RE.match(version):
            raise CommandRejectedError("bad_version", repr(version))
        if component == "field_detector":
            path = self.detector_path(version)
        else:
            path = self._newest_rules(version, pair)
        if not path.is_file():
            raise CommandRejectedError("artifact_missing", f"{component} v{version}")
        return path

    def detector_path(self, version: str) -> Path:
        """Where the detector ``version`` lives under the root (the file may not exist yet).

        Raises:
            CommandRejectedError: ``bad_version`` or ``path_outside_root``.
        """
        if not VERSION_RE.match(version):
            raise CommandRejectedError("bad_version", repr(version))
        return self._inside(self.root / "field_detector" / f"field_detector_v{version}_latest.pt")

    def resolve_verified(
        self, component: str, version: str, pair: str | None = None
    ) -> tuple[Path, str]:
        """:meth:`resolve` then :func:`verify_sidecar`; returns the path and its sha256."""
        path = self.resolve(component, version, pair)
        return path, verify_sidecar(path)

    def _inside(self, candidate: Path) -> Path:
        real = candidate.resolve()
        if not real.is_relative_to(self.root):
            raise CommandRejectedError("path_outside_root", f"{candidate.name} leaves the root")
        return real

    def _newest_rules(self, version: str, pair: str | None) -> Path:
        src, dst = _split_pair(pair)
        directory = self._inside(self.root / "translation_rules")
        pattern = re.compile(
            rf"translation_rules_{re.escape(src)}_to_{re.escape(dst)}"
            rf"_v{re.escape(version)}(?:_acc\d+\.\d+)?_(\d{{8}}_\d{{6}})(_\d{{6}})?\.json"
        )
        candidates: list[tuple[str, str]] = []
        try:
            names = [entry.name for entry in directory.iterdir()]
        except OSError as exc:
            raise CommandRejectedError("artifact_missing", "no translation_rules dir") from exc
        for name in names:
            match = pattern.fullmatch(name)
            if match is None:
                continue
            try:
                datetime.strptime(match.group(1), "%Y%m%d_%H%M%S")
            except ValueError:
                continue  # not a real timestamp: not ours, ignore
            candidates.append((match.group(1) + (match.group(2) or ""), name))
        if not candidates:
            raise CommandRejectedError("artifact_missing", f"rules {pair} v{version}")
        # Zero-padded timestamps sort like time; the name breaks (impossible) ties stably.
        _, newest = max(candidates)
        return self._inside(directory / newest)
