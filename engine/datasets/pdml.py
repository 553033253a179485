"""Run tshark and read its PDML (``-T pdml``) as a tree of items per packet.

PDML is used rather than ``-T json``/``-ek`` because it carries ``pos``/``size`` for every item,
also the unnamed text items (list headers, register groups) that the JSON outputs drop.

TCP desegmentation is switched off (``tcp.desegment_tcp_streams:FALSE``): a PDU that fits in its
segment is then decoded from the frame's own bytes, so offsets need no mapping, and a PDU spread
over several segments is left undecoded and skipped instead of being labelled from a
reassembled buffer whose offsets do not refer to the frame.
"""

from __future__ import annotations

import codecs
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.errors import DatasetError


class TsharkError(DatasetError):
    """tshark is missing or failed on a capture."""


TSHARK_PREFS = ("-o", "tcp.desegment_tcp_streams:FALSE")


@dataclass(slots=True)
class Item:
    """One ``<proto>`` or ``<field>`` element.

    Attributes:
        name: Field name (``dns.qry.name``), ``""`` for text items.
        show: Display text (``show`` attribute, else ``showname``).
        pos: Offset in the buffer the item was decoded from (usually the frame).
        size: Width in bytes (0 for generated items).
        value: Hex of the item's bytes when PDML gives them in full (``unmaskedvalue`` for
            bit-fields), else ``None``.
        is_proto: True for ``<proto>`` elements.
        hidden: tshark marks the item hidden (duplicates such as ``eth.addr``).
        children: Nested items in document order.
    """

    name: str
    show: str
    pos: int
    size: int
    value: str | None
    is_proto: bool = False
    hidden: bool = False
    children: list[Item] = field(default_factory=list)

    def walk(self) -> Iterator[Item]:
        """This item and every descendant, in document order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def contains(self, other: Item) -> bool:
        """True if ``other``'s bytes lie within this item's (always true for a 0-size item)."""
        if self.size == 0:
            return True
        return self.pos <= other.pos and other.pos + other.size <= self.pos + self.size

    def walk_nested(self) -> Iterator[Item]:
        """Like :meth:`walk`, but prunes children that lie outside their parent's bytes.

        tshark adds cross-references under some fields (SMB's "Opened in" FID tracking shows
        the Create request's flags under a later frame's FID), with offsets into another
        frame; they are not part of this message.
        """
        yield self
        for child in self.children:
            if self.contains(child):
                yield from child.walk_nested()


@dataclass(slots=True)
class Packet:
    """A packet's number (1-based, as in the capture) and its top-level protocols."""

    number: int
    protos: list[Item]


def _full_hex(attrib: dict[str, str], size: int) -> str | None:
    for key in ("unmaskedvalue", "value"):
        v = attrib.get(key)
        if v is not None and len(v) == 2 * size:
            return v.lower()
    return None


def _item(elem: ET.Element) -> Item:
    a = elem.attrib
    try:
        pos, size = int(a.get("pos", "0")), int(a.get("size", "0"))
    except ValueError:
        pos, size = 0, 0
    return Item(
        name=a.get("name", ""),
        show=a.get("show") or a.get("showname", ""),
        pos=pos,
        size=size,
        value=_full_hex(a, size),
        is_proto=elem.tag == "proto",
        hidden=a.get("hide") == "yes",
        children=[_item(c) for c in elem if c.tag in ("field", "proto")],
    )


# tshark copies raw bytes of odd strings into attributes: invalid UTF-8 and control characters
# XML 1.0 forbids. Only display text is affected, so they are replaced.
_SANITISE = {c: "?" for c in range(0x20) if chr(c) not in "\t\n\r"}


def _elements(stream: IO[bytes]) -> Iterator[ET.Element]:
    parser: Any = ET.XMLPullParser(events=("end",))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := stream.read(1 << 16):
        parser.feed(decoder.decode(chunk).translate(_SANITISE))
        yield from _ended(parser)
    parser.close()
    yield from _ended(parser)


def _ended(parser: Any) -> Iterator[ET.Element]:
    for _event, elem in parser.read_events():
        if isinstance(elem, ET.Element):
            yield elem


def parse_pdml(stream: IO[bytes]) -> Iterator[Packet]:
    """Yield packets from a PDML byte stream, freeing each one once read."""
    number = 0
    for elem in _elements(stream):
        if elem.tag != "packet":
            continue
        number += 1
        protos = [_item(p) for p in elem if p.tag == "proto"]
        for p in protos:
            if p.name == "frame":
                num = next((c.show for c in p.children if c.name == "frame.number"), None)
                number = int(num) if num and num.isdigit() else number
        yield Packet(number, [p for p in protos if p.name not in ("geninfo", "frame")])
        elem.clear()


def tshark_path() -> str:
    """The tshark executable.

    Raises:
        TsharkError: tshark is not installed (Debian: ``apt-get install tshark``).
    """
    path = shutil.which("tshark")
    if path is None:
        raise TsharkError("tshark not found; install it (Debian/Ubuntu: apt-get install tshark)")
    return path


def run_pdml(
    capture: str | Path, display_filter: str | None = None, extra_args: Sequence[str] = ()
) -> Iterator[Packet]:
    """Stream the packets of ``capture`` as decoded by tshark.

    Args:
        capture: pcap or pcapng file.
        display_filter: tshark ``-Y`` filter.
        extra_args: More tshark options (``-d tcp.port==8080,http2``, ``--enable-heuristic``)
            for captures whose protocol Wireshark does not find by default.

    Raises:
        TsharkError: tshark is missing, or exits with an error.
    """
    cmd = [tshark_path(), "-n", "-r", str(capture), *TSHARK_PREFS, "-T", "pdml"]
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += list(extra_args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield from parse_pdml(proc.stdout)
    except ET.ParseError as exc:
        raise TsharkError(f"{capture}: unreadable PDML from tshark: {exc}") from exc
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise TsharkError(f"{capture}: tshark exited with {code}: {err[-500:]}")
