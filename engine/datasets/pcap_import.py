"""Captures → labelled frames: tshark decodes, :mod:`pcap_label` labels, stats count.

The result keeps every message's capture file name (``source``) so that
:mod:`engine.datasets.split` can keep a file wholly on one side of a train/test split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from engine.datasets.field_types import field_type
from engine.datasets.pcap_label import label_message, messages, spec_for
from engine.datasets.pcap_reader import read_frames
from engine.datasets.pdml import run_pdml
from engine.detection.dataset import LabelledFrame
from engine.errors import DatasetError


@dataclass
class ImportResult:
    """Labelled messages of one capture and what happened to the others.

    Attributes:
        source: Capture file name (no directory), stored with each labelled message.
        frames: The labelled messages, in capture order.
        packets: Packets tshark decoded.
        messages: Messages of the protocol found in them.
        skipped: Messages not labelled, by reason (see ``pcap_label.SKIP_REASONS``).
    """

    source: str
    protocol: str
    frames: list[LabelledFrame] = field(default_factory=list)
    packets: int = 0
    messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def import_capture(
    path: str | Path,
    protocol: str,
    *,
    on_packet: Callable[[int], None] | None = None,
) -> ImportResult:
    """Label every message of ``protocol`` in one capture file.

    Args:
        path: pcap or pcapng file.
        protocol: A key of ``pcap_label.PROTOCOLS`` or any tshark layer name.
        on_packet: Called with the packet number after each packet (progress bars).

    Raises:
        DatasetError: the file cannot be read; ``TsharkError`` when tshark is missing or fails.
    """
    p = Path(path)
    raw = read_frames(p)
    spec = spec_for(protocol)
    result = ImportResult(p.name, protocol)
    for packet in run_pdml(p):
        result.packets += 1
        if not 1 <= packet.number <= len(raw):
            raise DatasetError(f"{p}: tshark reports frame {packet.number} of {len(raw)}")
        for msg in messages(packet, spec):
            result.messages += 1
            out = label_message(msg, raw[packet.number - 1], protocol, field_type)
            if isinstance(out, str):
                result.skipped[out] += 1
            else:
                result.frames.append(out)
        if on_packet is not None:
            on_packet(packet.number)
    return result


def frame_row(frame: LabelledFrame, source: str) -> dict[str, object]:
    """The JSONL row of a labelled frame: the detector's format plus ``source``."""
    return {
        "frame_hex": frame.message.hex(),
        "fields": [list(s) for s in frame.spans],
        "protocol": frame.protocol,
        "source": source,
    }


def write_rows(rows: Iterable[dict[str, object]], path: str | Path) -> int:
    """Write JSONL rows; returns how many."""
    n = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")
            n += 1
    return n
