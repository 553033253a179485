"""S7comm and BACnet/IP messages packed from their specifications (EVALUATION ONLY).

scapy 2.8 has neither protocol, so each builder returns the message as a list of
``(bytes, type)`` fields in wire order; :mod:`unseen_frames` turns them into spans. Both are
reserved for evaluation and must never be used for training (see ``unseen_frames``); the module
stays in ``bench/`` so no package can import it.

* S7comm (TCP 102): TPKT (RFC 1006) + COTP DT TPDU (ISO 8073) + S7 header (10 bytes for a Job,
  12 for an Ack-Data with error class/code), then the parameter and data blocks of Setup
  Communication, Read Var and Write Var, in both directions.
* BACnet/IP (UDP 47808, ASHRAE 135 Annex J and clauses 6, 20): BVLC header, NPDU (optionally
  with a broadcast destination and hop count) and an APDU: Who-Is, I-Am, ReadProperty request
  and Complex-ACK, WriteProperty request and Simple-ACK. Every tag byte is its own field.
"""

from __future__ import annotations

import random
import struct

Fields = list[tuple[bytes, str]]

# S7 transport sizes of a read-var item (request) and of the returned data (response).
_ITEM_SIZES = {0x02: 1, 0x04: 2, 0x06: 4, 0x08: 4, 0x01: 1}  # BYTE, WORD, DWORD, REAL, BIT
_DATA_SIZES = {0x02: 0x04, 0x04: 0x04, 0x06: 0x04, 0x08: 0x07, 0x01: 0x03}  # bits / real / bit
_AREAS = (0x84, 0x84, 0x81, 0x82, 0x83)  # DB, inputs, outputs, flags


def _b(value: int) -> bytes:
    return bytes([value])


def _h(value: int) -> bytes:
    return struct.pack("!H", value)


def _s7_item(rng: random.Random) -> tuple[Fields, int, int]:
    """A variable-spec item (12 bytes), its transport size and its data length in bytes."""
    size = rng.choice(tuple(_ITEM_SIZES))
    count = 1 if size == 0x01 else rng.randint(1, 16)
    area = rng.choice(_AREAS)
    db = rng.randint(1, 999) if area == 0x84 else 0
    address = (rng.randint(0, 8191) << 3) | (rng.randint(0, 7) if size == 0x01 else 0)
    item: Fields = [
        (b"\x12", "type_code"),  # variable specification
        (b"\x0a", "length"),  # length of the rest of the item
        (b"\x10", "type_code"),  # syntax id: S7ANY
        (_b(size), "type_code"),
        (_h(count), "count"),
        (_h(db), "id"),
        (_b(area), "type_code"),
        (address.to_bytes(3, "big"), "address"),
    ]
    return item, size, count * _ITEM_SIZES[size]


def _s7_data(rng: random.Random, size: int, n_bytes: int, last: bool) -> Fields:
    """One data item: return code, transport size, length, value (+ fill byte if odd)."""
    tsize = _DATA_SIZES[size]
    length = n_bytes * 8 if tsize == 0x04 else n_bytes
    out: Fields = [(b"\xff", "flags"), (_b(tsize), "type_code"), (_h(length), "length")]
    out.append((rng.randbytes(n_bytes), "value"))
    if n_bytes % 2 and not last:
        out.append((b"\x00", "padding"))
    return out


def s7comm(rng: random.Random) -> Fields:
    """A TPKT/COTP/S7comm Job or Ack-Data of Setup Communication, Read Var or Write Var."""
    service = rng.randrange(3)
    ack = rng.random() < 0.5
    params: Fields
    data: Fields = []
    if service == 0:  # setup communication
        pdu = rng.choice((240, 480, 960))
        amq = (_h(rng.choice((1, 2, 8))), "count")  # max parallel jobs, calling and called
        params = [(b"\xf0", "type_code"), (b"\x00", "padding"), amq, amq, (_h(pdu), "length")]
    else:
        n = rng.randint(1, 4)
        items = [_s7_item(rng) for _ in range(n)]
        params = [(_b(0x04 if service == 1 else 0x05), "type_code"), (_b(n), "count")]
        read_ack, write_job = service == 1 and ack, service == 2 and not ack
        if not ack:
            for item, _, _ in items:
                params += item
        if read_ack or write_job:
            for k, (_, size, n_bytes) in enumerate(items):
                data += _s7_data(rng, size, n_bytes, k == n - 1)
        elif service == 2:  # write var ack: one return code per item
            data = [(b"\xff", "flags") for _ in range(n)]
    p_len = sum(len(b) for b, _ in params)
    d_len = sum(len(b) for b, _ in data)
    pdu_ref = _h(rng.getrandbits(16))
    header: Fields = [(b"\x32", "magic"), (_b(3 if ack else 1), "type_code"),
                      (b"\x00\x00", "padding"), (pdu_ref, "id"), (_h(p_len), "length"),
                      (_h(d_len), "length")]  # fmt: skip
    if ack:
        header += [(b"\x00", "flags"), (b"\x00", "flags")]  # error class, error code
    body = header + params + data
    total = 4 + 3 + sum(len(b) for b, _ in body)
    tpkt: Fields = [(b"\x03", "magic"), (b"\x00", "padding"), (_h(total), "length")]
    cotp: Fields = [(b"\x02", "length"), (b"\xf0", "type_code"), (b"\x80", "flags")]
    return tpkt + cotp + body


_OBJECT_TYPES = (0, 1, 2, 3, 4, 5, 8, 19)  # analog/binary in/out/value, device, multi-state
_PROPERTIES = (85, 77, 28, 36, 103, 111, 117, 81)  # present-value, name, description...


def _object_id(rng: random.Random, kind: int | None = None) -> bytes:
    obj = kind if kind is not None else rng.choice(_OBJECT_TYPES)
    return struct.pack("!I", (obj << 22) | rng.randint(0, 4_194_302))


def _property(rng: random.Random) -> Fields:
    prop = rng.choice(_PROPERTIES)
    out: Fields = [(b"\x19", "type_code"), (_b(prop), "type_code")]
    if rng.random() < 0.2:
        out += [(b"\x29", "type_code"), (_b(rng.randint(0, 16)), "id")]  # array index
    return out


def _app_value(rng: random.Random) -> Fields:
    """An application-tagged value: REAL, UNSIGNED, BOOLEAN or ENUMERATED."""
    kind = rng.randrange(4)
    if kind == 0:
        return [(b"\x44", "type_code"), (struct.pack("!f", rng.uniform(-100, 500)), "value")]
    if kind == 1:
        return [(b"\x22", "type_code"), (_h(rng.randint(256, 65535)), "value")]
    if kind == 2:
        return [(_b(0x10 | rng.randint(0, 1)), "value")]  # the tag byte holds the value
    return [(b"\x91", "type_code"), (_b(rng.randint(0, 3)), "value")]


def _apdu(rng: random.Random) -> tuple[Fields, bool]:
    """An APDU and whether it is sent as a broadcast (Who-Is, I-Am)."""
    kind = rng.randrange(6)
    invoke = (_b(rng.randint(0, 255)), "id")
    obj: Fields = [(b"\x0c", "type_code"), (_object_id(rng), "address")]
    if kind == 0:  # Who-Is, optionally with a device instance range
        apdu: Fields = [(b"\x10", "type_code"), (b"\x08", "type_code")]
        if rng.random() < 0.5:
            lo = rng.randint(0, 60000)
            hi = lo + rng.randint(0, 5000)
            apdu += [(b"\x0a", "type_code"), (_h(lo), "address"), (b"\x1a", "type_code"),
                     (_h(hi), "address")]  # fmt: skip
        return apdu, True
    if kind == 1:  # I-Am
        apdu = [(b"\x10", "type_code"), (b"\x00", "type_code"), (b"\xc4", "type_code"),
                (_object_id(rng, 8), "address"), (b"\x22", "type_code"),
                (_h(rng.choice((480, 1024, 1476))), "length"), (b"\x91", "type_code"),
                (_b(rng.randint(0, 3)), "flags"), (b"\x21", "type_code"),
                (_b(rng.randint(1, 250)), "id")]  # fmt: skip
        return apdu, True
    confirmed: Fields = [(b"\x00", "flags"), (b"\x05", "flags"), invoke]
    if kind == 2:  # ReadProperty request
        return [*confirmed, (b"\x0c", "type_code"), *obj, *_property(rng)], False
    if kind == 3:  # ReadProperty Complex-ACK
        value = [(b"\x3e", "type_code"), *_app_value(rng), (b"\x3f", "type_code")]
        return [(b"\x30", "flags"), invoke, (b"\x0c", "type_code"), *obj, *_property(rng),
                *value], False  # fmt: skip
    if kind == 4:  # WriteProperty request (with a priority half of the time)
        value = [(b"\x3e", "type_code"), *_app_value(rng), (b"\x3f", "type_code")]
        prio: Fields = [(b"\x49", "type_code"), (_b(rng.randint(1, 16)), "value")]
        return [*confirmed, (b"\x0f", "type_code"), *obj, *_property(rng), *value,
                *(prio if rng.random() < 0.5 else [])], False  # fmt: skip
    return [(b"\x20", "flags"), invoke, (b"\x0f", "type_code")], False  # Simple-ACK


def bacnet(rng: random.Random) -> Fields:
    """A BACnet/IP message: BVLC + NPDU + APDU."""
    apdu, broadcast = _apdu(rng)
    expects_reply = apdu[0][0] == b"\x00"
    if broadcast and rng.random() < 0.5:  # global broadcast: DNET 0xFFFF, DLEN 0, hop count
        npdu: Fields = [(b"\x01", "magic"), (b"\x20", "flags"), (b"\xff\xff", "address"),
                        (b"\x00", "length"), (b"\xff", "count")]  # fmt: skip
    else:
        npdu = [(b"\x01", "magic"), (b"\x04" if expects_reply else b"\x00", "flags")]
    function = 0x0B if broadcast else 0x0A  # Original-Broadcast / Original-Unicast-NPDU
    total = 4 + sum(len(b) for b, _ in npdu + apdu)
    bvlc: Fields = [(b"\x81", "magic"), (_b(function), "type_code"), (_h(total), "length")]
    return bvlc + npdu + apdu
