"""Rule sets on disk: versioned JSON files (orjson) with a sha256 sidecar.

File name: ``translation_rules_{src}_to_{dst}_v{version}_acc{accuracy:.4f}_{timestamp}.json``
(timestamp ``YYYYmmdd_HHMMSS_ffffff``, UTC) and ``<file>.sha256`` beside it (``sha256sum``
format). The file is an envelope
``{"schema_version": 1, "saved_at": ..., "rules": {...}, "lineage": {...}}`` validated strictly on
load (``lineage`` is optional, so files written before it existed still load): extra keys,
wrong types, a bad checksum or unparsable JSON are refused with :class:`RulesFileError`.
Writes go through :func:`engine.artifacts.write_with_sidecar` (temporary files renamed into
place, removed on failure), so readers never see half a file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from engine.artifact_lock import shared_lock
from engine.artifacts import sha256_bytes, sidecar_path, write_with_sidecar
from engine.detection.lineage import rules_lineage
from engine.translation.errors import RulesFileError, RulesIntegrityError, RulesVersionError
from engine.translation.rules import SEMVER, TranslationRules

SCHEMA_VERSION = 1
_PREFIX = "translation_rules_"


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    saved_at: str
    rules: TranslationRules
    lineage: dict[str, Any] | None = None


def check_version(version: str) -> str:
    """Return ``version`` if it is a semantic version, else raise :class:`RulesVersionError`."""
    if not isinstance(version, str) or not SEMVER.fullmatch(version):
        raise RulesVersionError(f"rules version {version!r} is not MAJOR.MINOR.PATCH")
    return version


def rules_filename(src: str, dst: str, version: str, accuracy: float, when: datetime) -> str:
    """File name of a saved rule set; the stream's artifact resolver reads the same scheme."""
    return f"{_PREFIX}{src}_to_{dst}_v{version}_acc{accuracy:.4f}_{when:%Y%m%d_%H%M%S_%f}.json"


def save(
    rules: TranslationRules,
    rules_dir: str | Path,
    version: str | None = None,
    *,
    lineage: dict[str, Any] | None = None,
) -> Path:
    """Write ``rules`` (re-versioned to ``version`` if given) and its sidecar; return the path.

    ``lineage`` defaults to the fingerprint of the rule set's test cases, the code and library
    versions and the generator (see ``engine.detection.lineage.rules_lineage``).

    Raises:
        RulesVersionError: ``version`` is not a semantic version (``../x`` included).
        OSError: The file or sidecar could not be written; no temporary file is left behind.
    """
    version = check_version(rules.version if version is None else version)
    rules = rules.model_copy(update={"version": version})
    now = datetime.now(UTC)
    name = rules_filename(
        rules.source_protocol, rules.target_protocol, version, rules.accuracy, now
    )
    path = Path(rules_dir) / name
    body = rules.model_dump(mode="json")
    if body.get("tag_map") is None:
        # Raw-mode files stay exactly as before tag maps, so older readers still load them.
        body.pop("tag_map", None)
    envelope = {
        "schema_version": SCHEMA_VERSION,
        "saved_at": now.isoformat(),
        "rules": body,
        "lineage": lineage if lineage is not None else rules_lineage(rules),
    }
    payload = orjson.dumps(envelope, option=orjson.OPT_INDENT_2)
    write_with_sidecar(path, payload)
    return path


def load(path: str | Path, *, expected_sha256: str | None = None) -> TranslationRules:
    """Read a rules file after checking its sidecar and schema.

    Args:
        path: The rules file.
        expected_sha256: When given, the bytes read must also hash to it (the digest a caller
            verified or was told to load): hashed once, and the same bytes parsed.

    Raises:
        RulesIntegrityError: The bytes do not match the sidecar (or ``expected_sha256``).
        RulesFileError: Missing file or sidecar, unparsable JSON, or a schema violation.
    """
    return load_envelope(path, expected_sha256=expected_sha256).rules


def load_lineage(path: str | Path) -> dict[str, Any] | None:
    """The verified lineage of a rules file; ``None`` for files written before lineage."""
    return load_envelope(path).lineage


def load_envelope(path: str | Path, *, expected_sha256: str | None = None) -> _Envelope:
    """Read and check a rules file (see :func:`load`); the whole envelope."""
    path = Path(path)
    try:
        with shared_lock(path.parent):  # a prune cannot delete it while we read it
            payload = path.read_bytes()
            recorded = sidecar_path(path).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        raise RulesFileError(
            f"{path}: rules file or its .sha256 sidecar unreadable: {exc}"
        ) from exc
    actual = sha256_bytes(payload)
    if actual != recorded.lower():
        raise RulesIntegrityError(
            f"{path}: sha256 {actual[:12]}… does not match sidecar {recorded[:12]}… "
            "(file tampered with or truncated)"
        )
    if expected_sha256 is not None and actual != expected_sha256.lower():
        raise RulesIntegrityError(
            f"{path}: sha256 {actual[:12]}… is not the expected {expected_sha256[:12]}…"
        )
    return _parse(path, payload)


def _parse(path: Path, payload: bytes) -> _Envelope:
    try:
        return _Envelope.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RulesFileError(
            f"{path}: not a valid rules file (schema v{SCHEMA_VERSION}): {where}: {first['msg']}"
        ) from exc


def list_saved(
    rules_dir: str | Path, source_protocol: str | None = None, target_protocol: str | None = None
) -> list[dict[str, Any]]:
    """Saved rule sets for a pair, newest first.

    Files that cannot be read are left out of the listing (``load`` explains why when asked).

    Returns:
        Dicts with ``filename``, ``path``, ``version``, ``accuracy``, ``source_protocol``,
        ``target_protocol`` and ``saved_at``.
    """
    directory = Path(rules_dir)
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.glob(f"{_PREFIX}*.json"):
        try:
            doc = orjson.loads(path.read_bytes())
            rules = doc["rules"]
            entry = {
                "filename": path.name,
                "path": str(path),
                "version": rules["version"],
                "accuracy": float(rules["accuracy"]),
                "source_protocol": rules["source_protocol"],
                "target_protocol": rules["target_protocol"],
                "saved_at": str(doc["saved_at"]),
            }
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if source_protocol is not None and entry["source_protocol"] != source_protocol:
            continue
        if target_protocol is not None and entry["target_protocol"] != target_protocol:
            continue
        entries.append(entry)
    entries.sort(key=lambda e: (e["saved_at"], e["filename"]), reverse=True)
    return entries
