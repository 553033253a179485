"""Random but plausible field values for the scapy corpus builders, all drawn from one seeded
:class:`random.Random` so a corpus is a function of its seed (scapy's own ``RandField``s use the
global ``random`` module and are not used)."""

from __future__ import annotations

import random

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
