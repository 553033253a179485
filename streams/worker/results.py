"""Frames as the stream sees them, and the JSON result published for each one.

The result format is the wire contract of ``cronos.frames.results`` (docs/architecture.md)::

    {"frame_id": "...", "source": "...", "protocol": "modbus",
     "fields": [{"start": 0, "end": 2, "type": "transaction_id", "confidence": 0.99}, ...],
     "detector_version": "1.0.0",
     "translation": {"target": "mqtt", "rules_version": "1.0.0",
                     "payload_b64": "...", "fields": {...}} | null,
     "latency_ms": 3.2}
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from engine.detection.boundary import FieldBoundary
from streams.errors import StreamsError

Headers = list[tuple[str, bytes]]


def record_bytes(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes a record takes on the wire, near enough to compare with a size cap.

    Key, value and every header name and value, plus a fixed allowance for the record's own
    framing (lengths, attributes, offsets: at most ~30 bytes a record and 5 per header).
    """
    head = sum(len(k.encode()) + len(v) + 5 for k, v in headers)
    return len(key or b"") + len(value or b"") + head + 32


H_PROTOCOL: Final = "protocol"
H_TARGET: Final = "target"
H_FRAME_ID: Final = "frame-id"
H_SOURCE: Final = "source"
#: The read request a Modbus response answers (decimal text), stamped by the ingest: a response
#: does not carry its start address, and tag maps need it.
H_MODBUS_FUNCTION: Final = "modbus-function"
H_MODBUS_ADDRESS: Final = "modbus-address"
H_MODBUS_COUNT: Final = "modbus-count"
H_CAPTURED_AT: Final = "captured-at"


class ResultEncodeError(StreamsError, ValueError):
    """A result could not be serialised (dead-lettered with stage ``serialise``)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One record of ``cronos.frames.raw``.

    Attributes:
        value: The raw frame bytes (``None`` for a tombstone).
        key: Record key (source id) or ``None``.
        headers: Record headers in order, values as bytes.
        topic: Topic it was read from.
        partition: Partition it was read from.
        offset: Its offset in that partition.
    """

    value: bytes | None
    key: bytes | None
    headers: Headers = field(default_factory=list)
    topic: str = ""
    partition: int = 0
    offset: int = 0

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name`` (Kafka allows repeats; the last one wins)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    def text_header(self, name: str) -> str | None:
        """Header ``name`` decoded as UTF-8; undecodable bytes are kept as surrogates.

        Surrogates make the result unserialisable, so a frame with a garbled id ends in the
        dead-letter topic with stage ``serialise`` instead of with a wrong id.
        """
        raw = self.header(name)
        return None if raw is None else raw.decode("utf-8", "surrogateescape")

    @property
    def frame_id(self) -> str:
        """The ``frame-id`` header, else ``topic-partition-offset`` (unique per record)."""
        given = self.text_header(H_FRAME_ID)
        return given if given else f"{self.topic}-{self.partition}-{self.offset}"

    @property
    def source(self) -> str | None:
        """The ``source`` header, else the record key as text."""
        given = self.text_header(H_SOURCE)
        if given is None and self.key is not None:
            given = self.key.decode("utf-8", "surrogateescape")
        return given


@dataclass(frozen=True, slots=True)
class Translation:
    """What the translation step produced for one frame."""

    target: str
    rules_version: str
    payload: bytes
    fields: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The ``translation`` object of a result."""
        return {
            "target": self.target,
            "rules_version": self.rules_version,
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
            "fields": self.fields,
        }


def build_result(
    frame: Frame,
    protocol: str,
    fields: Sequence[FieldBoundary],
    detector_version: str,
    translation: Translation | None,
    latency_ms: float,
) -> dict[str, Any]:
    """The result object for one frame, exactly in the format of docs/architecture.md."""
    return {
        "frame_id": frame.frame_id,
        "source": frame.source,
        "protocol": protocol,
        "fields": [f.to_dict() for f in fields],
        "detector_version": detector_version,
        "translation": translation.to_dict() if translation is not None else None,
        "latency_ms": round(latency_ms, 3),
    }


def encode_result(result: dict[str, Any], max_bytes: int) -> bytes:
    """Serialise a result with orjson.

    Raises:
        ResultEncodeError: orjson refuses it (e.g. a non-UTF-8 string) or it exceeds
            ``max_bytes``.
    """
    try:
        data = orjson.dumps(result)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ResultEncodeError(f"result is not serialisable: {exc}") from exc
    if len(data) > max_bytes:
        raise ResultEncodeError(f"result is {len(data)} bytes > {max_bytes}")
    return data
