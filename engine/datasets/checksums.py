"""Checksums that synthetic frames carry, by name (one home for every generator)."""

from __future__ import annotations

import binascii
from collections.abc import Callable


def sum8(data: bytes) -> int:
    """Sum of the bytes modulo 256."""
    return sum(data) & 0xFF


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, initial value 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, not reflected)."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc32(data: bytes) -> int:
    """CRC-32 as in zlib / Ethernet."""
    return binascii.crc32(data) & 0xFFFFFFFF


#: Algorithm name → (width in bytes, function).
CHECKSUMS: dict[str, tuple[int, Callable[[bytes], int]]] = {
    "sum8": (1, sum8),
    "crc16_modbus": (2, crc16_modbus),
    "crc16_ccitt": (2, crc16_ccitt),
    "crc32": (4, crc32),
}


def crc16_dnp(data: bytes) -> int:
    """CRC-16/DNP (polynomial 0x3D65 reflected = 0xA6BC, initial value 0, final complement).

    DNP3 sends it low byte first after the link header and after each 16-byte data chunk.
    """
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return crc ^ 0xFFFF
