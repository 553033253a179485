"""Labelled application messages of many protocols, generated with scapy.

For each protocol of :data:`SCAPY_PROTOCOLS` a builder (:mod:`engine.datasets.scapy_net`,
:mod:`engine.datasets.scapy_app`) draws a message with seeded random field values; scapy puts it
on its lower layers (:class:`Carrier`: UDP/TCP port, IP protocol or EtherType) and computes
lengths and checksums; the message is the bytes above those layers (the UDP/TCP payload, the IP
or Ethernet payload for OSPF, VRRP, ICMP, LLDP...). :func:`engine.datasets.scapy_walk.field_spans`
gives the span of every field, :func:`span_type` its type in the detector's vocabulary, and
:func:`engine.datasets.tiling.tile` makes the spans tile the message (gaps are ``unknown``).

S7comm, BACnet, IEC 60870-5-104, MQTT (and MQTT-SN) and CoAP are reserved for evaluation and are
never generated: :data:`DENYLIST` names them and :func:`scapy_frames` refuses any message with a
layer from their scapy modules (:data:`DENIED_MODULES`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from scapy.fields import (
    FieldLenField,
    FieldListField,
    IP6Field,
    IPField,
    LenField,
    MACField,
    SourceIPField,
    UTCTimeField,
)
from scapy.layers.dhcp import DHCPOptionsField
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import LLC, SNAP, Ether
from scapy.packet import Packet

from engine.datasets import scapy_app as app
from engine.datasets import scapy_net as net
from engine.datasets.field_types import scapy_field_type
from engine.datasets.scapy_values import ipv4, ipv6, jitter, mac
from engine.datasets.scapy_walk import FieldSpan, ScapyWalkError, field_spans
from engine.datasets.tiling import Piece, tile
from engine.detection.dataset import LabelledFrame
from engine.errors import DatasetError

#: Protocols reserved for evaluation: never generated, whatever the table below says.
DENYLIST = frozenset({"s7comm", "s7", "bacnet", "iec104", "iec60870_5_104", "mqtt", "mqttsn",
                      "coap"})  # fmt: skip
#: scapy modules of the reserved protocols; a message with a layer from one is refused.
DENIED_MODULES = (
    "scapy.contrib.mqtt",
    "scapy.contrib.mqttsn",
    "scapy.contrib.coap",
    "scapy.contrib.scada.iec104",
    "scapy.contrib.s7",
    "scapy.contrib.bacnet",
)
#: Their well-known ports (S7 102, BACnet 47808, IEC 104 2404, MQTT 1883/8883, CoAP 5683/5684):
#: no carrier uses them, so no capture of the corpus is dissected as one of them.
RESERVED_PORTS = frozenset({102, 47808, 2404, 1883, 8883, 5683, 5684})


@dataclass(frozen=True, slots=True)
class Carrier:
    """The lower layers a message rides on.

    Attributes:
        kind: ``udp``, ``tcp`` (``value`` = server port), ``ip`` (IP protocol number), ``ip6``
            (next header), ``ether`` (EtherType) or ``snap`` (Cisco LLC/SNAP, CDP).
        value: Port, protocol number or EtherType.
        dst: Fixed IP destination (multicast group) for protocols whose Wireshark dissector
            checks it (HSRP: 224.0.0.2); random otherwise.
    """

    kind: str
    value: int = 0
    dst: str | None = None

    def layers(self, rng: random.Random, reply: bool = False) -> Packet:
        """Ethernet + network + transport headers with random addresses and client port.

        Args:
            rng: The sample's random source.
            reply: The message goes server → client (the server port is the source port; the
                Modbus/TCP dissector tells requests from responses by it).
        """
        eth = Ether(src=mac(rng), dst=mac(rng))
        ephemeral = rng.randint(1024, 65535)
        if self.kind == "udp":
            ip = IP(src=ipv4(rng), dst=self.dst or ipv4(rng))
            sport = self.value if self.dst else ephemeral  # multicast hellos use the port twice
            return eth / ip / UDP(sport=sport, dport=self.value)
        if self.kind == "tcp":
            seq, ack = rng.getrandbits(32), rng.getrandbits(32)
            sport, dport = (self.value, ephemeral) if reply else (ephemeral, self.value)
            tcp = TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack)
            return eth / IP(src=ipv4(rng), dst=ipv4(rng)) / tcp
        if self.kind == "ip":
            return eth / IP(src=ipv4(rng), dst=ipv4(rng), proto=self.value)
        if self.kind == "ip6":
            return eth / IPv6(src=ipv6(rng), dst=ipv6(rng), nh=self.value)
        if self.kind == "ether":
            return Ether(src=mac(rng), dst=mac(rng), type=self.value)
        if self.kind == "snap":
            return Ether(src=mac(rng), dst="01:00:0c:cc:cc:cc") / LLC() / SNAP(code=0x2000)
        raise DatasetError(f"unknown carrier {self.kind!r}")


@dataclass(frozen=True, slots=True)
class ScapyProtocol:
    """One generated protocol: its family, builder, carrier and Wireshark layers.

    Attributes:
        family: ``network``, ``routing``, ``tunnel``, ``industrial``, ``iot`` or ``application``.
        build: Seeded random → the application message.
        carrier: Lower layers (also what lets tshark find the protocol in a capture).
        tshark: Wireshark layer(s) of one message, first the start layer then inner layers;
            empty where Wireshark 4.0 does not dissect the message as sent.
        tshark_args: Extra tshark options that make Wireshark find the protocol (decode-as,
            heuristics that are off by default).
    """

    family: str
    build: Callable[[random.Random], Packet]
    carrier: Carrier
    tshark: tuple[str, ...] = ()
    tshark_args: tuple[str, ...] = ()


def _p(family: str, build: Callable[[random.Random], Packet], kind: str, value: int,
       *tshark: str) -> ScapyProtocol:  # fmt: skip
    return ScapyProtocol(family, build, Carrier(kind, value), tshark)


SCAPY_PROTOCOLS: dict[str, ScapyProtocol] = {
    "dns": _p("network", net.dns, "udp", 53, "dns"),
    "mdns": _p("network", net.mdns, "udp", 5353, "mdns"),
    "llmnr": _p("network", net.llmnr, "udp", 5355, "llmnr"),
    "nbns": _p("network", net.nbns, "udp", 137, "nbns"),
    "ntp": _p("network", net.ntp, "udp", 123, "ntp"),
    "dhcp": _p("network", net.dhcp, "udp", 67, "dhcp"),
    "dhcpv6": _p("network", net.dhcpv6, "udp", 547, "dhcpv6"),
    "tftp": _p("application", net.tftp, "udp", 69, "tftp"),
    "radius": _p("application", net.radius, "udp", 1812, "radius"),
    "icmp": _p("network", net.icmp, "ip", 1, "icmp"),
    "icmpv6": _p("network", net.icmpv6, "ip6", 58, "icmpv6"),
    "arp": _p("network", net.arp, "ether", 0x0806, "arp"),
    "netflow": _p("network", net.netflow, "udp", 2055, "cflow"),
    "hsrp": ScapyProtocol("routing", net.hsrp, Carrier("udp", 1985, "224.0.0.2"), ("hsrp",)),
    "vrrp": _p("routing", net.vrrp, "ip", 112, "vrrp"),
    "rip": _p("routing", net.rip, "udp", 520, "rip"),
    "ripng": _p("routing", app.ripng, "udp", 521, "ripng"),
    "bgp": _p("routing", app.bgp, "tcp", 179, "bgp"),
    "ospf": _p("routing", app.ospf, "ip", 89, "ospf"),
    "eigrp": _p("routing", app.eigrp, "ip", 88, "eigrp"),
    "igmp": _p("routing", app.igmp, "ip", 2, "igmp"),
    "ldp": _p("routing", app.ldp, "udp", 646, "ldp"),
    "bfd": _p("routing", app.bfd, "udp", 3784, "bfd"),
    "rtr": _p("routing", app.rtr, "tcp", 323, "rpkirtr"),
    "lldp": _p("network", app.lldp, "ether", 0x88CC, "lldp"),
    "cdp": _p("network", app.cdp, "snap", 0, "cdp"),
    "vqp": _p("network", app.vqp, "udp", 1589),  # no VQP dissector in Wireshark 4.0
    "l2tp": _p("tunnel", net.l2tp, "udp", 1701, "l2tp"),
    "vxlan": _p("tunnel", net.vxlan, "udp", 4789, "vxlan"),
    "gtp_c": _p("tunnel", app.gtp_c, "udp", 2123, "gtp"),
    "gtp_u": _p("tunnel", app.gtp_u, "udp", 2152, "gtp"),
    "pptp": _p("tunnel", app.pptp, "tcp", 1723, "pptp"),
    "isakmp": _p("tunnel", app.isakmp, "udp", 500, "isakmp"),
    "wireguard": _p("tunnel", app.wireguard, "udp", 51820, "wg"),
    "mobileip": _p("tunnel", app.mobileip, "udp", 434, "mip"),
    "socks": _p("application", app.socks, "tcp", 1080, "socks"),
    "stun": _p("application", app.stun, "udp", 3478, "stun"),
    "tacacs": _p("application", app.tacacs, "tcp", 49, "tacplus"),
    "skinny": _p("application", app.skinny, "tcp", 2000, "skinny"),
    "http2": ScapyProtocol(
        "application", app.http2, Carrier("tcp", 8080), ("http2",), ("-d", "tcp.port==8080,http2")
    ),
    "modbus": _p("industrial", app.modbus, "tcp", 502, "mbtcp", "modbus"),
    "enip": _p("industrial", app.enip, "tcp", 44818, "enip"),
    "pnio_dcp": _p("industrial", app.pnio_dcp, "ether", 0x8892, "pn_rt", "pn_dcp"),
    "knx": _p("industrial", app.knx, "udp", 3671, "kip"),
    "ptp": _p("industrial", app.ptp, "udp", 319, "ptp"),
    "someip": ScapyProtocol(
        "iot", app.someip, Carrier("udp", 30490), ("someip",), ("-d", "udp.port==30490,someip")
    ),
    "doip": _p("iot", app.doip, "tcp", 13400, "doip"),
    "smb": _p("application", app.smb, "tcp", 445, "nbss", "smb"),
    "openflow": _p("network", app.openflow, "tcp", 6653, "openflow_v1"),
    "pfcp": _p("tunnel", app.pfcp, "udp", 8805, "pfcp"),
    "ikev2": _p("tunnel", app.ikev2, "udp", 500, "isakmp"),
    "gtpv2": _p("tunnel", app.gtpv2, "udp", 2123, "gtpv2"),
    "ethercat": _p("industrial", app.ethercat, "ether", 0x88A4, "ecatf", "ecat"),
    "pim": _p("routing", app.pim, "ip", 103, "pim"),
    "lacp": _p("network", app.lacp, "ether", 0x8809, "slow", "lacp"),
    "pppoe_discovery": _p("tunnel", app.pppoe_discovery, "ether", 0x8863, "pppoed"),
    "eapol": _p("network", app.eapol, "ether", 0x888E, "eapol", "eap"),
    "nbdgm": _p("application", app.nbdgm, "udp", 138, "nbdgm"),
    "portmap": _p("application", app.portmap, "udp", 111, "rpc", "portmap"),
}
assert not DENYLIST & SCAPY_PROTOCOLS.keys()
assert not any(
    p.carrier.value in RESERVED_PORTS
    for p in SCAPY_PROTOCOLS.values()
    if p.carrier.kind in ("udp", "tcp")
)

_ADDRESS_FIELDS = (IPField, IP6Field, MACField, SourceIPField)


#: Fields whose scapy name misleads: BOOTP calls the DHCP magic cookie "options"; Modbus coil
#: and input status bytes are typed ``address`` like tshark's ``modbus.bitnum`` items.
_OVERRIDES = {
    ("BOOTP", "options"): "magic",
    ("ModbusPDU01ReadCoilsResponse", "coilStatus"): "address",
    ("ModbusPDU02ReadDiscreteInputsResponse", "inputStatus"): "address",
}


def span_type(span: FieldSpan) -> str:
    """The detector type of one field span.

    Raw loads are ``value``, ``Padding`` layers ``padding``, bit-field groups without a dominant
    member ``flags``; then the field class decides where it is unambiguous (address fields,
    length and count fields, timestamps); else the field name goes through
    :func:`engine.datasets.field_types.scapy_field_type`.
    """
    if span.layer == "Padding":
        return "padding"
    if span.layer == "Raw":
        return "value"
    fld = span.field
    if fld is None:
        return "flags"
    if (span.layer, span.name) in _OVERRIDES:
        return _OVERRIDES[(span.layer, span.name)]
    name, layer = span.name, span.layer
    if scapy_field_type(name) == "checksum" or isinstance(fld, DHCPOptionsField):
        return scapy_field_type(name, layer)
    if isinstance(fld, FieldListField):
        fld = fld.field  # one span per element: the element's class decides
    if isinstance(fld, _ADDRESS_FIELDS):
        return "address"
    if isinstance(fld, FieldLenField) and getattr(fld, "count_of", None):
        return "count"
    if isinstance(fld, FieldLenField | LenField) and not getattr(fld, "count_of", None):
        return "length"
    if isinstance(fld, UTCTimeField):
        return "time"
    return scapy_field_type(name, layer)


def check_allowed(protocol: str, pkt: Packet) -> None:
    """Refuse a reserved protocol name or a message with a layer from a reserved module.

    Raises:
        DatasetError: ``protocol`` is in :data:`DENYLIST` or a layer of ``pkt`` comes from
            :data:`DENIED_MODULES`.
    """
    _refuse_reserved_name(protocol)
    for cls in pkt.layers():
        if cls.__module__.startswith(DENIED_MODULES):
            raise DatasetError(f"{protocol}: {cls.__name__} is a reserved protocol")


def _refuse_reserved_name(protocol: str) -> None:
    if protocol.lower() in DENYLIST:
        raise DatasetError(f"{protocol} is reserved for evaluation and is never generated")


@dataclass(frozen=True, slots=True)
class ScapySample:
    """One generated message: the labelled frame, the scapy spans and the whole wire frame."""

    frame: LabelledFrame
    spans: tuple[FieldSpan, ...]
    wire: bytes
    offset: int


def scapy_sample(protocol: str, rng: random.Random) -> ScapySample:
    """Draw one message of ``protocol``.

    Raises:
        DatasetError: unknown or reserved protocol; ``ScapyWalkError`` if scapy does not
            rebuild this draw from its fields (callers draw again).
    """
    _refuse_reserved_name(protocol)
    spec = SCAPY_PROTOCOLS.get(protocol)
    if spec is None:
        raise DatasetError(f"unknown scapy protocol {protocol!r}")
    message_pkt = spec.build(rng)
    check_allowed(protocol, message_pkt)
    jitter(message_pkt, rng)
    lower = spec.carrier.layers(rng, reply="Response" in type(message_pkt).__name__)
    full = lower / message_pkt
    wire = bytes(full)
    # The lower layers' length is taken from the built frame: some messages change them
    # (scapy's IGMP adds the Router Alert option to its IP header).
    top: Packet = full
    for _ in lower.layers():
        top = top.payload
    offset = len(wire) - len(bytes(top))
    message = wire[offset:]
    spans = field_spans(message, type(message_pkt))
    pieces = [Piece(s.start, s.end, span_type(s)) for s in spans if s.end > s.start]
    tiled = tile(pieces, len(message), lambda label: label)
    return ScapySample(LabelledFrame(message, tuple(tiled), protocol), tuple(spans), wire, offset)


def scapy_samples(protocol: str, n: int, seed: int) -> list[ScapySample]:
    """``n`` samples of ``protocol``, the same for the same ``seed``.

    Draws that scapy cannot rebuild field by field are skipped (at most ``4 n`` draws).

    Raises:
        DatasetError: unknown or reserved protocol, or fewer than ``n`` usable draws.
    """
    rng = random.Random(f"scapy:{seed}:{protocol}")
    out: list[ScapySample] = []
    draws = 0
    while len(out) < n and draws < 4 * n + 8:
        draws += 1
        try:
            out.append(scapy_sample(protocol, rng))
        except ScapyWalkError:
            continue
    if len(out) < n:
        raise DatasetError(f"{protocol}: only {len(out)} of {n} draws could be labelled")
    return out


def scapy_frames(protocol: str, n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` labelled messages of ``protocol`` (a key of :data:`SCAPY_PROTOCOLS`)."""
    return [s.frame for s in scapy_samples(protocol, n, seed)]
