"""Labelled messages of the five protocols reserved for evaluation (EVALUATION ONLY).

S7comm, BACnet/IP, IEC 60870-5-104, MQTT and CoAP are never used to train the field detector
(``engine.datasets.scapy_corpus.DENYLIST``). This module lives in ``bench/`` on purpose: nothing
in ``engine/`` (and so no training command) can import it, and its frames are only scored by
``bench/unseen_protocols.py``. Do not move it into a package or feed its output to training.

* MQTT 3.1.1, CoAP and IEC 104 are built with scapy's contrib layers and labelled with the scapy
  corpus' walker (:func:`engine.datasets.scapy_walk.field_spans`), typed by
  :func:`engine.datasets.scapy_corpus.span_type` and tiled by :func:`engine.datasets.tiling.tile`,
  with two refinements: CoAP's options (one scapy field) are split into header byte, extended
  delta/length and value per option, as Wireshark shows them; an IEC 104 CP56Time2a timestamp
  (scapy splits its bit-fields across bytes) is one 7-byte ``time`` field.
* S7comm (over TPKT/COTP, TCP 102) and BACnet/IP (BVLC/NPDU/APDU, UDP 47808) are not in scapy
  2.8; they are packed with :mod:`struct` from the specifications, one span per field.

Messages are the TCP/UDP payloads, drawn with seeded random values in both directions (requests
and responses, commands and monitoring data).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from scapy.contrib import mqtt as m
from scapy.contrib.coap import CoAP
from scapy.contrib.scada import iec104 as iec
from scapy.packet import Packet
from unseen_struct import bacnet, s7comm

from engine.datasets.scapy_corpus import span_type
from engine.datasets.scapy_values import hostname, u, word
from engine.datasets.scapy_walk import FieldSpan, ScapyWalkError, field_spans
from engine.datasets.tiling import Piece, tile
from engine.detection.dataset import LabelledFrame

#: Evaluation protocols, in table order.
UNSEEN_PROTOCOLS = ("s7comm", "bacnet", "iec104", "mqtt", "coap")


def _mqtt(rng: random.Random) -> Packet:
    kind = rng.randrange(9)
    msgid = u(rng, 16)
    topic = "/".join(word(rng, 2, 8) for _ in range(rng.randint(1, 4))).encode()
    if kind == 0:
        user = rng.random() < 0.5
        body: Packet = m.MQTTConnect(
            protoname=b"MQTT", protolevel=4, cleansess=1, klive=rng.choice((30, 60, 120, 300)),
            clientId=word(rng, 4, 16).encode(), usernameflag=int(user), passwordflag=int(user),
            **({"username": word(rng).encode(), "password": word(rng).encode()} if user else {}),
        )  # fmt: skip
        return m.MQTT(type=1) / body
    if kind == 1:
        return m.MQTT(type=2) / m.MQTTConnack(retcode=rng.choice((0, 0, 0, 5)))
    if kind in (2, 3):
        qos = rng.randint(0, 1)
        value = rng.choice((str(round(rng.uniform(-50, 150), 2)).encode(), rng.randbytes(8)))
        pub = m.MQTTPublish(topic=topic, value=value, **({"msgid": msgid} if qos else {}))
        return m.MQTT(type=3, QOS=qos, RETAIN=rng.randint(0, 1)) / pub
    if kind == 4:
        return m.MQTT(type=4) / m.MQTTPuback(msgid=msgid)
    if kind == 5:
        topics = [m.MQTTTopicQOS(topic=topic, QOS=rng.randint(0, 1))]
        return m.MQTT(type=8, QOS=1) / m.MQTTSubscribe(msgid=msgid, topics=topics)
    if kind == 6:
        return m.MQTT(type=9) / m.MQTTSuback(msgid=msgid, retcodes=[rng.randint(0, 1)])
    return m.MQTT(type=12 if kind == 7 else 13)  # PINGREQ / PINGRESP


def _coap(rng: random.Random) -> Packet:
    token = rng.randbytes(rng.choice((0, 2, 4, 8)))
    if rng.random() < 0.5:
        opts = [("Uri-Host", hostname(rng).encode())] if rng.random() < 0.3 else []
        opts += [("Uri-Path", word(rng, 2, 10).encode()) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            opts.append(("Uri-Query", f"{word(rng, 1, 4)}={rng.randint(0, 999)}".encode()))
        req = CoAP(type=rng.choice((0, 1)), code=rng.choice((1, 1, 2, 3)), msg_id=u(rng, 16),
                   token=token, options=opts)  # fmt: skip
        return req
    value = str(round(rng.uniform(-20, 40), 1)).encode()
    opts = [("Content-Format", bytes([rng.choice((0, 50, 60))]))]
    if rng.random() < 0.4:
        opts.append(("Max-Age", struct.pack("!H", rng.randint(1, 3600))))
    resp = CoAP(type=2, code=rng.choice((69, 68, 65)), msg_id=u(rng, 16), token=token,
                options=opts, paymark=b"\xff")  # fmt: skip
    return resp / value


def _iec_objects(rng: random.Random, seq: bool) -> list[Packet]:
    n = rng.randint(1, 4)
    # Not single-point objects in a sequence: their one-byte SIQ groups are adjacent flag groups,
    # which the walker merges into one span (it does so for DNS's split flags word).
    kind = rng.choice((0, 1, 4) if seq else (0, 1, 2, 3, 4))
    sfx = "" if seq else "_IOA"

    def cls(name: str) -> Callable[..., Packet]:
        return getattr(iec, f"IEC104_IO_{name}{sfx}")

    def ioa() -> dict[str, int]:
        return {} if seq else {"information_object_address": rng.randint(1, 20000)}

    if kind == 0:
        return [cls("M_ME_NC_1")(scaled_value=rng.uniform(-1e3, 1e3), **ioa()) for _ in range(n)]
    if kind == 1:
        scaled = cls("M_ME_NB_1")
        return [scaled(scaled_value=rng.randint(-30000, 30000), **ioa()) for _ in range(n)]
    if kind == 2:
        return [cls("M_SP_NA_1")(spi_value=rng.randint(0, 1), **ioa()) for _ in range(n)]
    if kind == 3:
        time = {"sec_milli": rng.randint(0, 59999), "minutes": rng.randint(0, 59),
                "hours": rng.randint(0, 23), "day_of_month": rng.randint(1, 28),
                "month": rng.randint(1, 12), "year": rng.randint(0, 99)}  # fmt: skip
        return [cls("M_SP_TB_1")(spi_value=rng.randint(0, 1), **time, **ioa())]
    return [cls("M_IT_NA_1")(counter_value=rng.randint(0, 2**31 - 1), **ioa()) for _ in range(n)]


def _iec104(rng: random.Random) -> Packet:
    kind = rng.randrange(6)
    if kind == 0:
        return iec.IEC104_S_Message(rx_seq_num=rng.randint(0, 32767))
    if kind == 1:
        flags = rng.choice(("startdt_act", "startdt_con", "testfr_act", "testfr_con"))
        u_frame = iec.IEC104_U_Message()
        u_frame.setfieldval(flags, 1)
        return u_frame
    head = {"tx_seq_num": rng.randint(0, 32767), "rx_seq_num": rng.randint(0, 32767),
            "common_asdu_address": rng.randint(1, 65534)}  # fmt: skip
    if kind == 2:  # control direction: interrogation or single command
        io = (
            iec.IEC104_IO_C_IC_NA_1_IOA(information_object_address=0, qoi=20)
            if rng.random() < 0.5
            else iec.IEC104_IO_C_SC_NA_1_IOA(
                information_object_address=rng.randint(1, 20000), scs=rng.randint(0, 1)
            )
        )
        return iec.IEC104_I_Message_SingleIOA(cot=6, io=[io], **head)
    seq = kind == 3
    cot = rng.choice((1, 3, 20))
    if seq:
        return iec.IEC104_I_Message_SeqIOA(
            cot=cot, information_object_address=rng.randint(1, 20000),
            io=_iec_objects(rng, True), **head,
        )  # fmt: skip
    return iec.IEC104_I_Message_SingleIOA(cot=cot, io=_iec_objects(rng, False), **head)


#: Names of the CP56Time2a bit-fields (scapy's groups of them cross byte boundaries).
_CP56 = frozenset(
    ("sec_milli", "iv_time", "gen", "minutes", "su", "reserved_2", "hours", "weekday",
     "day_of_month", "reserved_3", "month", "reserved_4", "year")
)  # fmt: skip


def _coap_options(data: bytes, base: int) -> list[Piece]:
    """CoAP options (RFC 7252 §3.1): delta/length byte, extended delta, extended length, value."""
    out: list[Piece] = []
    i = 0
    while i < len(data):
        delta, size = data[i] >> 4, data[i] & 0x0F
        out.append(Piece(base + i, base + i + 1, "type_code"))
        i += 1
        for nibble, kind in ((delta, "type_code"), (size, "length")):
            ext = {13: 1, 14: 2}.get(nibble, 0)
            if ext:
                out.append(Piece(base + i, base + i + ext, kind))
                if kind == "length":
                    size = int.from_bytes(data[i : i + ext], "big") + (13 if ext == 1 else 269)
                i += ext
        if size:
            out.append(Piece(base + i, base + i + size, "value"))
        i += size
    return out


#: Types the name rules get wrong for these layers (types are not scored, but stay sensible).
_TYPES = {"topic": "name", "clientId": "id", "msgid": "id", "retcode": "flags",
          "retcodes": "flags", "type_id": "type_code", "cot": "type_code", "tx_seq_num": "id",
          "rx_seq_num": "id", "token": "id"}  # fmt: skip


def _pieces(spans: list[FieldSpan], message: bytes) -> list[Piece]:
    out: list[Piece] = []
    for s in spans:
        if s.end <= s.start:
            continue
        if s.layer == "CoAP" and s.name == "options":
            out += _coap_options(message[s.start : s.end], s.start)
            continue
        piece = Piece(s.start, s.end, _TYPES.get(s.name) or span_type(s))
        if set(s.name.split("+")) & _CP56:
            prev = out[-1] if out else None
            if prev and prev.name == "time" and prev.end == s.start:
                out[-1] = Piece(prev.start, s.end, "time")
                continue
            piece = Piece(s.start, s.end, "time")
        out.append(piece)
    return out


_SCAPY: dict[str, tuple[Callable[[random.Random], Packet], type[Packet]]] = {
    "mqtt": (_mqtt, m.MQTT),
    "coap": (_coap, CoAP),
    "iec104": (_iec104, iec.IEC104_APDU),
}


def _scapy_frame(protocol: str, rng: random.Random) -> LabelledFrame:
    build, cls = _SCAPY[protocol]
    message = bytes(build(rng))
    pieces = _pieces(field_spans(message, cls), message)
    return LabelledFrame(message, tuple(tile(pieces, len(message), lambda t: t)), protocol)


def _struct_frame(protocol: str, rng: random.Random) -> LabelledFrame:
    fields = (s7comm if protocol == "s7comm" else bacnet)(rng)
    pieces: list[Piece] = []
    pos = 0
    for raw, kind in fields:
        pieces.append(Piece(pos, pos + len(raw), kind))
        pos += len(raw)
    message = b"".join(raw for raw, _ in fields)
    return LabelledFrame(message, tuple(tile(pieces, len(message), lambda t: t)), protocol)


def unseen_frames(protocol: str, n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` labelled messages of one evaluation protocol, the same for the same ``seed``.

    Payloads are distinct (like the capture test set's): repeated draws (PINGREQs, U-frames)
    and draws scapy cannot rebuild field by field are skipped, at most ``10 n`` draws.

    Raises:
        ValueError: ``protocol`` is not one of :data:`UNSEEN_PROTOCOLS`, or too few draws could
            be labelled.
    """
    if protocol not in UNSEEN_PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}")
    rng = random.Random(f"unseen:{seed}:{protocol}")
    out: dict[bytes, LabelledFrame] = {}
    draws = 0
    while len(out) < n and draws < 10 * n + 8:
        draws += 1
        try:
            frame = (_scapy_frame if protocol in _SCAPY else _struct_frame)(protocol, rng)
        except ScapyWalkError:
            continue
        out.setdefault(frame.message, frame)
    if len(out) < n:
        raise ValueError(f"{protocol}: only {len(out)} distinct messages in {draws} draws")
    return list(out.values())
