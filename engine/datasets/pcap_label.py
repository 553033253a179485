"""Label one application message of a decoded packet: pieces in message coordinates, checked
against the frame's bytes.

A *message* is a run of top-level protocols that starts with one of the protocol's start layers
(``mbtcp`` for Modbus/TCP, ``nbss`` for SMB) and continues with its inner layers (``modbus``,
``smb``). A TCP segment with several Modbus PDUs yields one message per ``mbtcp`` layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.datasets.dnp3_map import map_dnp3
from engine.datasets.pdml import Item, Packet
from engine.datasets.tiling import Piece, tile
from engine.detection.dataset import LabelledFrame


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """Which tshark layers make up one message of a protocol."""

    starts: tuple[str, ...]
    continues: tuple[str, ...] = ()


PROTOCOLS: dict[str, ProtocolSpec] = {
    "modbus": ProtocolSpec(("mbtcp",), ("modbus",)),
    "dns": ProtocolSpec(("dns",)),
    "ntp": ProtocolSpec(("ntp",)),
    "dhcp": ProtocolSpec(("dhcp",)),
    "nbns": ProtocolSpec(("nbns",)),
    "smb": ProtocolSpec(("nbss",), ("smb", "smb2")),
    "dnp3": ProtocolSpec(("dnp3",)),
}

_MALFORMED = ("_ws.malformed", "_ws.short")
SKIP_REASONS = ("malformed", "outside_frame", "offset_mismatch", "reassembled", "no_fields")


def spec_for(protocol: str) -> ProtocolSpec:
    """The layers of ``protocol``; an unknown name is taken as a single tshark layer."""
    return PROTOCOLS.get(protocol, ProtocolSpec((protocol,)))


@dataclass(slots=True)
class Message:
    """The layers of one message and whether tshark flagged it malformed."""

    layers: list[Item]
    malformed: bool = False


def messages(packet: Packet, spec: ProtocolSpec) -> list[Message]:
    """Split a packet's top-level layers into messages of ``spec``."""
    out: list[Message] = []
    current: Message | None = None
    for proto in packet.protos:
        if proto.name in spec.starts:
            current = Message([proto])
            out.append(current)
        elif current is not None and proto.name in spec.continues:
            current.layers.append(proto)
        elif current is not None and proto.name in _MALFORMED:
            current.malformed = True
        else:
            current = None
    for m in out:
        if any(i.name.startswith(_MALFORMED) for layer in m.layers for i in layer.walk()):
            m.malformed = True
    return out


def _usable(item: Item) -> bool:
    return item.size > 0 and not item.hidden and not item.name.startswith("_ws.")


def _frame_items(msg: Message) -> list[Item]:
    return [i for layer in msg.layers for i in layer.walk_nested() if _usable(i)]


def label_message(
    msg: Message,
    frame: bytes,
    protocol: str,
    type_of: Callable[[str], str | None],
) -> LabelledFrame | str:
    """The labelled message, or the reason it is skipped (one of :data:`SKIP_REASONS`)."""
    if msg.malformed:
        return "malformed"
    start = min(layer.pos for layer in msg.layers)
    end = max(layer.pos + layer.size for layer in msg.layers)
    if not 0 <= start < end <= len(frame):
        return "outside_frame"
    if protocol == "dnp3":
        mapped = map_dnp3(msg.layers, frame)
        if isinstance(mapped, str):
            return mapped
        items = mapped
    else:
        items = [
            (i.pos, i.pos + i.size, "" if i.is_proto else i.name, i.value)
            for i in _frame_items(msg)
        ]
    pieces: list[Piece] = []
    for s, e, name, value in items:
        if e <= start or s >= end:
            # Cross-references tshark adds about other frames (SMB FID tracking): not ours.
            continue
        if value is not None and frame[s:e].hex() != value:
            # Decoded from another buffer (reassembly, decompression): offsets are not ours.
            return "offset_mismatch"
        if s < start or e > end:
            return "outside_frame"
        pieces.append(Piece(s - start, e - start, name or None))
    spans = tile(pieces, end - start, type_of)
    if all(type_of(p.name) is None for p in pieces if p.name):
        return "no_fields"
    return LabelledFrame(frame[start:end], tuple(spans), protocol)
