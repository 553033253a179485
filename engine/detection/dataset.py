"""Labelled frames: validation and the JSON-lines dataset format.

A labelled frame is a message plus its field spans ``(start, end, type)`` (``end`` exclusive).
The guide passes them as ``(bytes, [(start, end, type), ...])`` tuples; files hold one JSON object
per line::

    {"frame_hex": "0001000000060103006b0003", "fields": [[0, 2, "transaction_id"], ...],
     "protocol": "modbus"}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.detection.boundary import Span
from engine.errors import DatasetError


@dataclass(frozen=True, slots=True)
class LabelledFrame:
    """One training or validation example.

    Attributes:
        message: The raw frame.
        spans: Sorted, non-overlapping ``(start, end, type)`` spans inside the message. Bytes no
            span covers are trained as "no field" (tag ``O``).
        protocol: Protocol name, for per-protocol reports; empty when unknown.
    """

    message: bytes
    spans: tuple[Span, ...]
    protocol: str = field(default="")


def validate_spans(
    message: bytes, spans: Iterable[Any], *, where: str = "frame"
) -> tuple[Span, ...]:
    """Check and normalise spans for ``message``.

    Raises:
        DatasetError: a span is malformed, empty, out of bounds, unsorted or overlapping.
    """
    if not isinstance(spans, Iterable):
        raise DatasetError(f"{where}: spans must be a list, got {type(spans).__name__}")
    out: list[Span] = []
    prev_end = 0
    for i, span in enumerate(spans):
        try:
            start, end, ftype = span
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{where}: span {i} is not (start, end, type): {span!r}") from exc
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(ftype, str)):
            raise DatasetError(f"{where}: span {i} must be (int, int, str): {span!r}")
        if not ftype:
            raise DatasetError(f"{where}: span {i} has an empty type")
        if not 0 <= start < end <= len(message):
            raise DatasetError(
                f"{where}: span {i} {span!r} is empty or outside the {len(message)}-byte message"
            )
        if start < prev_end:
            raise DatasetError(f"{where}: span {i} {span!r} overlaps or precedes the previous span")
        prev_end = end
        out.append((start, end, ftype))
    return tuple(out)


def coerce_frame(item: Any, *, max_bytes: int, where: str = "frame") -> LabelledFrame:
    """Accept a :class:`LabelledFrame`, a ``(bytes, spans)`` tuple or a JSONL-style dict."""
    if isinstance(item, LabelledFrame):
        message, spans, protocol = item.message, item.spans, item.protocol
    elif isinstance(item, dict):
        try:
            message = bytes.fromhex(item["frame_hex"])
            spans, protocol = item["fields"], str(item.get("protocol", ""))
        except (KeyError, ValueError, TypeError) as exc:
            raise DatasetError(f"{where}: needs 'frame_hex' (hex) and 'fields': {exc}") from exc
    elif isinstance(item, tuple | list) and len(item) in (2, 3):
        message, spans = item[0], item[1]
        protocol = str(item[2]) if len(item) == 3 else ""
    else:
        raise DatasetError(f"{where}: expected (bytes, spans), got {type(item).__name__}")
    if not isinstance(message, bytes | bytearray):
        raise DatasetError(f"{where}: message must be bytes, got {type(message).__name__}")
    if not message:
        raise DatasetError(f"{where}: empty message")
    if len(message) > max_bytes:
        raise DatasetError(f"{where}: {len(message)} bytes exceeds the {max_bytes}-byte cap")
    return LabelledFrame(bytes(message), validate_spans(message, spans, where=where), protocol)


def coerce_frames(items: Sequence[Any], *, max_bytes: int, name: str) -> list[LabelledFrame]:
    """Validate a whole dataset, naming the offending example in any error."""
    return [coerce_frame(x, max_bytes=max_bytes, where=f"{name}[{i}]") for i, x in enumerate(items)]


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON-lines file, skipping blank lines."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: invalid JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object")
            yield obj


def load_jsonl(path: str | Path, *, max_bytes: int = 64 * 1024) -> list[LabelledFrame]:
    """Read a labelled dataset file (see module docstring for the format)."""
    return [
        coerce_frame(obj, max_bytes=max_bytes, where=f"{path}:{i + 1}")
        for i, obj in enumerate(iter_jsonl(path))
    ]


def save_jsonl(frames: Iterable[LabelledFrame], path: str | Path) -> int:
    """Write frames as JSON lines; returns the number written."""
    n = 0
    with open(path, "wb") as fh:
        for f in frames:
            row = {"frame_hex": f.message.hex(), "fields": [list(s) for s in f.spans]}
            if f.protocol:
                row["protocol"] = f.protocol
            fh.write(orjson.dumps(row) + b"\n")
            n += 1
    return n
