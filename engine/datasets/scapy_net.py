"""scapy corpus builders: network and infrastructure protocols.

Each builder takes a seeded :class:`random.Random` and returns the APPLICATION message as a scapy
packet (the UDP/TCP payload, or the IP/Ethernet payload for protocols that sit there), leaving
length, count and checksum fields at ``None`` so that scapy computes them.
"""

from __future__ import annotations

import random

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (
    DUID_LLT,
    DHCP6_Advertise,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptServerId,
)
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.hsrp import HSRP
from scapy.layers.inet import ICMP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr
from scapy.layers.l2 import ARP
from scapy.layers.l2tp import L2TP
from scapy.layers.llmnr import LLMNRQuery
from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest
from scapy.layers.netflow import NetflowHeader, NetflowHeaderV5, NetflowRecordV5
from scapy.layers.ntp import NTPHeader
from scapy.layers.radius import Radius, RadiusAttr_NAS_IP_Address, RadiusAttribute
from scapy.layers.rip import RIP, RIPEntry
from scapy.layers.tftp import TFTP, TFTP_ACK, TFTP_DATA, TFTP_RRQ, TFTP_WRQ
from scapy.layers.vrrp import VRRP
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

from engine.datasets.scapy_values import blob, hostname, ipv4, ipv6, mac, u, word

_QTYPES = ("A", "AAAA", "MX", "TXT", "NS", "PTR", "SRV", "CNAME")


def _dns_message(rng: random.Random) -> DNS:
    name = hostname(rng)
    qtype = rng.choice(_QTYPES[:2])
    response = rng.random() < 0.5
    answers: list[Packet] = []
    if response:
        answers = [
            DNSRR(rrname=name, type="A", ttl=rng.randint(30, 86400), rdata=ipv4(rng))
            for _ in range(rng.randint(1, 3))
        ]
    return DNS(
        id=u(rng, 16),
        qr=int(response),
        rd=1,
        ra=int(response),
        qd=DNSQR(qname=name, qtype=qtype),
        an=answers,
    )


def dns(rng: random.Random) -> Packet:
    """A DNS query or an A-record response."""
    return _dns_message(rng)


def mdns(rng: random.Random) -> Packet:
    """An mDNS query (id 0) for a ``.local`` service."""
    name = f"_{word(rng, 3, 8)}._{rng.choice(('tcp', 'udp'))}.local"
    return DNS(id=0, rd=0, qd=DNSQR(qname=name, qtype="PTR"))


def llmnr(rng: random.Random) -> Packet:
    """An LLMNR query for a single-label host name."""
    return LLMNRQuery(id=u(rng, 16), qd=DNSQR(qname=word(rng), qtype=rng.choice(_QTYPES[:2])))


def nbns(rng: random.Random) -> Packet:
    """A NetBIOS name query."""
    return NBNSHeader(NAME_TRN_ID=u(rng, 16)) / NBNSQueryRequest(
        QUESTION_NAME=word(rng, 3, 15).upper(), SUFFIX=rng.choice((0x4141, 0x4341, 0x4441))
    )


def ntp(rng: random.Random) -> Packet:
    """An NTPv3/v4 client or server packet."""
    return NTPHeader(
        version=rng.choice((3, 4)),
        mode=rng.choice((3, 4)),
        stratum=rng.randint(0, 4),
        poll=rng.randint(4, 10),
        precision=rng.randint(-25, -6),
        delay=rng.random(),
        dispersion=rng.random(),
        id=ipv4(rng),
        ref=3.9e9 + rng.random() * 1e8,
        orig=3.9e9 + rng.random() * 1e8,
        recv=3.9e9 + rng.random() * 1e8,
        sent=3.9e9 + rng.random() * 1e8,
    )


def dhcp(rng: random.Random) -> Packet:
    """A DHCP discover/request/offer/ack in BOOTP."""
    kind = rng.choice(("discover", "request", "offer", "ack"))
    reply = kind in ("offer", "ack")
    opts: list[object] = [("message-type", kind)]
    if kind == "request":
        opts += [("requested_addr", ipv4(rng)), ("hostname", word(rng).encode())]
    if reply:
        opts += [
            ("server_id", ipv4(rng)),
            ("lease_time", rng.randint(600, 86400)),
            ("subnet_mask", "255.255.255.0"),
            ("router", ipv4(rng)),
        ]
    opts += [("param_req_list", [1, 3, 6, 15]), "end"]
    chaddr = bytes.fromhex(mac(rng).replace(":", ""))
    return BOOTP(
        op=2 if reply else 1,
        xid=u(rng, 32),
        secs=rng.randint(0, 30),
        yiaddr=ipv4(rng) if reply else "0.0.0.0",
        chaddr=chaddr,
    ) / DHCP(options=opts)


def dhcpv6(rng: random.Random) -> Packet:
    """A DHCPv6 solicit, advertise or request."""
    cls = rng.choice((DHCP6_Solicit, DHCP6_Advertise, DHCP6_Request))
    duid = DUID_LLT(lladdr=mac(rng), timeval=u(rng, 32))
    pkt = cls(trid=u(rng, 24)) / DHCP6OptClientId(duid=duid)
    if cls is not DHCP6_Solicit:
        pkt /= DHCP6OptServerId(duid=DUID_LLT(lladdr=mac(rng), timeval=u(rng, 32)))
    return (
        pkt
        / DHCP6OptElapsedTime(elapsedtime=rng.randint(0, 500))
        / DHCP6OptIA_NA(iaid=u(rng, 32), T1=rng.randint(0, 3600), T2=rng.randint(3600, 7200))
    )


def tftp(rng: random.Random) -> Packet:
    """A TFTP read/write request, data block or ack."""
    kind = rng.randrange(4)
    if kind == 0:
        return TFTP() / TFTP_RRQ(
            filename=f"{word(rng)}.bin", mode=rng.choice(("octet", "netascii"))
        )
    if kind == 1:
        return TFTP() / TFTP_WRQ(filename=f"{word(rng)}.cfg", mode="octet")
    if kind == 2:
        return TFTP() / TFTP_DATA(block=rng.randint(1, 2000)) / Raw(blob(rng, 1, 64))
    return TFTP() / TFTP_ACK(block=rng.randint(0, 2000))


def rip(rng: random.Random) -> Packet:
    """A RIPv2 response with a few routes."""
    entries = [
        RIPEntry(addr=ipv4(rng), mask="255.255.255.0", nextHop=ipv4(rng), metric=rng.randint(1, 15))
        for _ in range(rng.randint(1, 4))
    ]
    pkt: Packet = RIP(cmd=2, version=2)
    for e in entries:
        pkt /= e
    return pkt


def hsrp(rng: random.Random) -> Packet:
    """An HSRPv0 hello."""
    return HSRP(
        group=rng.randint(0, 255),
        priority=rng.randint(50, 255),
        hellotime=3,
        holdtime=10,
        virtualIP=ipv4(rng),
        auth=word(rng, 3, 8).encode().ljust(8, b"\0"),
    )


def vrrp(rng: random.Random) -> Packet:
    """A VRRPv2 advertisement (IP protocol 112)."""
    addrs = [ipv4(rng) for _ in range(rng.randint(1, 3))]
    return VRRP(vrid=rng.randint(1, 255), priority=rng.randint(1, 254), addrlist=addrs)


def l2tp(rng: random.Random) -> Packet:
    """An L2TP data message header with a small payload."""
    return L2TP(tunnel_id=u(rng, 16), session_id=u(rng, 16)) / Raw(blob(rng, 4, 32))


def radius(rng: random.Random) -> Packet:
    """A RADIUS access request with user name and NAS address."""
    attrs = [
        RadiusAttribute(type=1, value=word(rng).encode()),
        RadiusAttr_NAS_IP_Address(value=ipv4(rng)),
        RadiusAttribute(type=5, value=u(rng, 16).to_bytes(4, "big")),
    ]
    return Radius(
        code=rng.choice((1, 2, 3, 4)), id=u(rng, 8), authenticator=rng.randbytes(16),
        attributes=attrs,
    )  # fmt: skip


def icmp(rng: random.Random) -> Packet:
    """An ICMP echo request/reply with data."""
    return ICMP(type=rng.choice((0, 8)), id=u(rng, 16), seq=u(rng, 16)) / Raw(blob(rng, 8, 48))


def icmpv6(rng: random.Random) -> Packet:
    """An ICMPv6 echo request or neighbour solicitation."""
    if rng.random() < 0.5:
        return ICMPv6EchoRequest(id=u(rng, 16), seq=u(rng, 16), data=blob(rng, 4, 32))
    return ICMPv6ND_NS(tgt=ipv6(rng)) / ICMPv6NDOptSrcLLAddr(lladdr=mac(rng))


def arp(rng: random.Random) -> Packet:
    """An ARP request or reply (Ethernet payload)."""
    return ARP(
        op=rng.choice((1, 2)), hwsrc=mac(rng), psrc=ipv4(rng), hwdst=mac(rng), pdst=ipv4(rng)
    )


def netflow(rng: random.Random) -> Packet:
    """A NetFlow v5 export with a few records."""
    recs = [
        NetflowRecordV5(
            src=ipv4(rng), dst=ipv4(rng), nexthop=ipv4(rng), dpkts=rng.randint(1, 999),
            dOctets=rng.randint(40, 99999), srcport=u(rng, 16), dstport=u(rng, 16),
            prot=rng.choice((6, 17)),
        )
        for _ in range(rng.randint(1, 3))
    ]  # fmt: skip
    pkt: Packet = NetflowHeader(version=5) / NetflowHeaderV5(
        sysUptime=u(rng, 32), unixSecs=u(rng, 32), flowSequence=u(rng, 32)
    )
    for r in recs:
        pkt /= r
    return pkt


def vxlan(rng: random.Random) -> Packet:
    """A VXLAN header with an opaque inner frame."""
    return VXLAN(vni=u(rng, 24), flags=0x08) / Raw(blob(rng, 14, 60))
