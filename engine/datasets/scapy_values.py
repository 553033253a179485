"""Random but plausible field values for the scapy corpus builders, all drawn from one seeded
:class:`random.Random` so a corpus is a function of its seed (scapy's own ``RandField``s use the
global ``random`` module and are not used). :func:`jitter` randomises the free integer fields a
builder did not set."""

from __future__ import annotations

import random
from typing import Any

from scapy.fields import (
    ByteField,
    IntField,
    LEIntField,
    LELongField,
    LEShortField,
    LongField,
    ShortField,
    XByteField,
    XIntField,
    XLEIntField,
    XLongField,
    XShortField,
)
from scapy.packet import NoPayload, Packet

from engine.datasets.field_types import scapy_field_type

#: Field classes that hold one plain integer (exact classes: subclasses add meaning).
_PLAIN = (ByteField, XByteField, ShortField, XShortField, IntField, XIntField, LongField,
          XLongField, LEShortField, LEIntField, XLEIntField, LELongField)  # fmt: skip

_WORDS = (
    "mail", "www", "api", "srv", "plc", "hmi", "scada", "files", "print", "db", "auth", "cdn",
    "edge", "gw", "vpn", "ntp", "ldap", "corp", "lab", "site", "north", "pump", "line", "boiler",
)  # fmt: skip
_TLDS = ("com", "net", "org", "local", "lan", "io", "de", "fr")


def hostname(rng: random.Random, labels: int | None = None) -> str:
    """A DNS-style name such as ``plc.north.corp.local``."""
    n = labels if labels is not None else rng.randint(1, 3)
    parts = [rng.choice(_WORDS) + (str(rng.randint(1, 99)) if rng.random() < 0.4 else "")]
    parts += [rng.choice(_WORDS) for _ in range(n - 1)]
    return ".".join([*parts, rng.choice(_TLDS)])


def word(rng: random.Random, lo: int = 3, hi: int = 12) -> str:
    """A lowercase ASCII word of ``lo``..``hi`` letters."""
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(lo, hi)))


def ipv4(rng: random.Random) -> str:
    """A private or public-looking IPv4 address."""
    first = rng.choice((10, 172, 192, rng.randint(1, 223)))
    return ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255),
                                     rng.randint(1, 254)))  # fmt: skip


def ipv6(rng: random.Random) -> str:
    """A link-local or documentation IPv6 address."""
    prefix = rng.choice(("fe80", "2001:db8", "fd00"))
    return prefix + "::" + ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(4))


def mac(rng: random.Random) -> str:
    """A unicast MAC address."""
    octets = [rng.randint(0, 255) & 0xFE] + [rng.randint(0, 255) for _ in range(5)]
    return ":".join(f"{o:02x}" for o in octets)


def blob(rng: random.Random, lo: int = 0, hi: int = 32) -> bytes:
    """Random bytes, ``lo``..``hi`` long."""
    return rng.randbytes(rng.randint(lo, hi))


def u(rng: random.Random, bits: int) -> int:
    """A random unsigned integer of ``bits`` bits."""
    return rng.getrandbits(bits)


_UNSIGNED = {"B": 8, "H": 16, "I": 32, "Q": 64}
#: Types whose values are free to vary without changing the message's structure or validity.
_FREE_TYPES = frozenset({"id", "value", "time", "address"})
#: Name parts of fields that look free but are not (versions, name terminators).
_KEEP = ("vers", "null")


def jitter(pkt: Packet, rng: random.Random, p: float = 0.5) -> None:
    """Give plain unsigned integer fields that the builder left at scapy's default a random
    value, each with probability ``p`` (in place).

    Only fields whose type (by name) is ``id``, ``value``, ``time`` or ``address`` are touched,
    never enumerations, flags, bit-fields, lengths, counts, checksums or versions, so the message
    keeps its structure and scapy still computes the dependent fields.
    """
    layer: Any = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        for fld in layer.fields_desc:
            if fld.name in layer.fields or any(w in fld.name.lower() for w in _KEEP):
                continue
            if type(fld) not in _PLAIN:
                continue
            bits = _UNSIGNED.get(str(fld.fmt)[-1:])
            if bits is None:
                continue
            if scapy_field_type(fld.name) in _FREE_TYPES and rng.random() < p:
                layer.setfieldval(fld.name, rng.getrandbits(bits))
        layer = layer.payload
