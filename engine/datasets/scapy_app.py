"""scapy corpus builders: routing, tunnelling, industrial, IoT/automotive and application
protocols (see :mod:`engine.datasets.scapy_net` for the conventions)."""

from __future__ import annotations

import random

from scapy.contrib.automotive.doip import DoIP
from scapy.contrib.automotive.someip import SOMEIP
from scapy.contrib.bfd import BFD
from scapy.contrib.bgp import BGPHeader, BGPKeepAlive, BGPOpen
from scapy.contrib.cdp import (
    CDPMsgDeviceID,
    CDPMsgPlatform,
    CDPMsgPortID,
    CDPMsgSoftwareVersion,
    CDPv2_HDR,
)
from scapy.contrib.eigrp import EIGRP, EIGRPParam, EIGRPSwVer
from scapy.contrib.enipTCP import ENIPTCP, ENIPRegisterSession
from scapy.contrib.ethercat import EtherCat, EtherCatAPRD
from scapy.contrib.gtp import GTP_U_Header, GTPEchoRequest, GTPHeader
from scapy.contrib.gtp_v2 import GTPHeader as GTPv2Header
from scapy.contrib.gtp_v2 import GTPV2EchoRequest, IE_RecoveryRestart
from scapy.contrib.http2 import H2Frame, H2PingFrame, H2Setting, H2SettingsFrame
from scapy.contrib.ikev2 import IKEv2, IKEv2_Nonce
from scapy.contrib.knx import HPAI, KNX, KNXSearchRequest
from scapy.contrib.lacp import LACP
from scapy.contrib.ldp import LDP, LDPHello
from scapy.contrib.lldp import (
    LLDPDUChassisID,
    LLDPDUEndOfLLDPDU,
    LLDPDUPortID,
    LLDPDUSystemName,
    LLDPDUTimeToLive,
)
from scapy.contrib.modbus import (
    ModbusADURequest,
    ModbusADUResponse,
    ModbusPDU01ReadCoilsRequest,
    ModbusPDU01ReadCoilsResponse,
    ModbusPDU03ReadHoldingRegistersRequest,
    ModbusPDU03ReadHoldingRegistersResponse,
    ModbusPDU04ReadInputRegistersResponse,
    ModbusPDU06WriteSingleRegisterRequest,
    ModbusPDU06WriteSingleRegisterResponse,
    ModbusPDU10WriteMultipleRegistersRequest,
    ModbusPDU10WriteMultipleRegistersResponse,
)
from scapy.contrib.oncrpc import RPC, RPC_Call
from scapy.contrib.openflow import OFPTEchoRequest, OFPTFeaturesRequest, OFPTHello
from scapy.contrib.ospf import OSPF_Hdr, OSPF_Hello
from scapy.contrib.pfcp import PFCP, IE_RecoveryTimeStamp, PFCPHeartbeatRequest
from scapy.contrib.pim import (
    PIMv2Hdr,
    PIMv2Hello,
    PIMv2HelloDRPriority,
    PIMv2HelloGenerationID,
    PIMv2HelloHoldtime,
)
from scapy.contrib.pnio import ProfinetIO
from scapy.contrib.pnio_dcp import ProfinetDCP
from scapy.contrib.portmap import GETPORT_Call
from scapy.contrib.ptp_v2 import PTP
from scapy.contrib.ripng import RIPng, RIPngEntry
from scapy.contrib.rtr import RTRSerialQuery
from scapy.contrib.slowprot import SlowProtocol
from scapy.contrib.socks import SOCKS, SOCKS4Request, SOCKS5Request
from scapy.contrib.stun import STUN
from scapy.contrib.tacacs import TacacsHeader
from scapy.contrib.vqp import VQP, VQPEntry
from scapy.contrib.wireguard import Wireguard, WireguardInitiation, WireguardTransport
from scapy.layers.eap import EAP, EAPOL
from scapy.layers.igmp import IGMP
from scapy.layers.isakmp import ISAKMP, ISAKMP_payload_SA
from scapy.layers.mobileip import MobileIP, MobileIPRRQ
from scapy.layers.netbios import NBTDatagram, NBTSession
from scapy.layers.ppp import PPPoED, PPPoED_Tags, PPPoETag
from scapy.layers.pptp import PPTPStartControlConnectionRequest
from scapy.layers.skinny import Skinny
from scapy.layers.smb import SMB_Dialect, SMB_Header, SMBNegotiate_Request
from scapy.packet import Packet, Raw

from engine.datasets.scapy_values import blob, hostname, ipv4, ipv6, mac, u, word


def bgp(rng: random.Random) -> Packet:
    """A BGP OPEN or KEEPALIVE."""
    if rng.random() < 0.3:
        return BGPKeepAlive()
    return BGPHeader(type=1) / BGPOpen(
        my_as=rng.randint(1, 65535), hold_time=rng.choice((90, 180)), bgp_id=ipv4(rng)
    )


def ospf(rng: random.Random) -> Packet:
    """An OSPFv2 hello (IP protocol 89)."""
    return OSPF_Hdr(src=ipv4(rng), area=ipv4(rng)) / OSPF_Hello(
        mask="255.255.255.0", prio=rng.randint(0, 255), router=ipv4(rng), backup=ipv4(rng),
        neighbors=[ipv4(rng) for _ in range(rng.randint(0, 3))],
    )  # fmt: skip


def lldp(rng: random.Random) -> Packet:
    """An LLDPDU: chassis, port, TTL, system name, end (Ethernet payload)."""
    return (
        LLDPDUChassisID(subtype=4, id=mac(rng))
        / LLDPDUPortID(subtype=5, id=f"eth{rng.randint(0, 48)}".encode())
        / LLDPDUTimeToLive(ttl=rng.choice((120, 60, 30)))
        / LLDPDUSystemName(system_name=hostname(rng).encode())
        / LLDPDUEndOfLLDPDU()
    )


def cdp(rng: random.Random) -> Packet:
    """A CDPv2 announcement (the LLC/SNAP payload)."""
    return CDPv2_HDR(
        ttl=180,
        msg=[
            CDPMsgDeviceID(val=word(rng).encode()),
            CDPMsgSoftwareVersion(val=f"IOS {rng.randint(12, 17)}.{rng.randint(0, 9)}".encode()),
            CDPMsgPlatform(val=rng.choice((b"cisco WS-C2960", b"cisco ISR4331"))),
            CDPMsgPortID(iface=f"GigabitEthernet0/{rng.randint(0, 48)}".encode()),
        ],
    )


def eigrp(rng: random.Random) -> Packet:
    """An EIGRP hello (IP protocol 88)."""
    return EIGRP(opcode=5, asn=rng.randint(1, 65535), seq=0, tlvlist=[EIGRPParam(), EIGRPSwVer()])


def igmp(rng: random.Random) -> Packet:
    """An IGMPv2 membership report or query (IP protocol 2)."""
    return IGMP(type=rng.choice((0x11, 0x16, 0x17)), gaddr=f"239.{rng.randint(0, 255)}.1.1")


def ripng(rng: random.Random) -> Packet:
    """A RIPng response."""
    pkt: Packet = RIPng(cmd=2)
    for _ in range(rng.randint(1, 3)):
        pkt /= RIPngEntry(prefix_or_nh=ipv6(rng), prefixlen=64, metric=rng.randint(1, 15))
    return pkt


def ldp(rng: random.Random) -> Packet:
    """An LDP hello (UDP 646)."""
    return LDP(id=ipv4(rng)) / LDPHello(id=u(rng, 32))


def bfd(rng: random.Random) -> Packet:
    """A BFD control packet."""
    return BFD(
        sta=rng.randint(0, 3), my_discriminator=u(rng, 32), your_discriminator=u(rng, 32),
        min_tx_interval=rng.choice((50000, 300000, 1000000)),
        min_rx_interval=rng.choice((50000, 300000, 1000000)),
    )  # fmt: skip


def isakmp(rng: random.Random) -> Packet:
    """An ISAKMP main-mode header with an SA payload."""
    return ISAKMP(init_cookie=rng.randbytes(8), exch_type=2) / ISAKMP_payload_SA()


def gtp_c(rng: random.Random) -> Packet:
    """A GTPv1-C echo request."""
    return GTPHeader(seq=u(rng, 16), S=1) / GTPEchoRequest()


def gtp_u(rng: random.Random) -> Packet:
    """A GTPv1-U T-PDU header with an opaque user payload."""
    return GTP_U_Header(gtp_type=255, teid=u(rng, 32)) / Raw(blob(rng, 20, 60))


def pptp(rng: random.Random) -> Packet:
    """A PPTP start-control-connection request."""
    return PPTPStartControlConnectionRequest(
        maximum_channels=rng.randint(1, 64), firmware_revision=u(rng, 16),
        host_name=word(rng).encode(), vendor_string=b"scapy",
    )  # fmt: skip


def socks(rng: random.Random) -> Packet:
    """A SOCKS4 or SOCKS5 connect request."""
    if rng.random() < 0.5:
        return SOCKS(vn=4) / SOCKS4Request(dstport=u(rng, 16), dst=ipv4(rng), userid=word(rng))
    # IPv4 target: scapy encodes a domain target (atyp 3) as DNS labels, not SOCKS5's
    # length-prefixed string.
    return SOCKS(vn=5) / SOCKS5Request(atyp=1, addr=ipv4(rng), port=u(rng, 16))


def stun(rng: random.Random) -> Packet:
    """A STUN binding request."""
    return STUN(stun_message_type=1, transaction_id=u(rng, 96))


def tacacs(rng: random.Random) -> Packet:
    """A TACACS+ header (unencrypted flag, so scapy does not obfuscate) with a body."""
    return TacacsHeader(seq=1, flags=1, session_id=u(rng, 32), type=1) / Raw(blob(rng, 8, 32))


def vqp(rng: random.Random) -> Packet:
    """A VLAN query protocol request."""
    return VQP(seq=u(rng, 32)) / VQPEntry(datatype=3073, data=ipv4(rng))


def wireguard(rng: random.Random) -> Packet:
    """A WireGuard handshake initiation or transport message."""
    if rng.random() < 0.5:
        return Wireguard(message_type=1) / WireguardInitiation(
            sender_index=u(rng, 32), unencrypted_ephemeral=rng.randbytes(32),
            encrypted_static=rng.randbytes(48), encrypted_timestamp=rng.randbytes(28),
            mac1=rng.randbytes(16), mac2=bytes(16),
        )  # fmt: skip
    return Wireguard(message_type=4) / WireguardTransport(
        receiver_index=u(rng, 32),
        counter=u(rng, 40),
        encrypted_encapsulated_packet=blob(rng, 16, 64),
    )


def rtr(rng: random.Random) -> Packet:
    """An RPKI-RTR serial query."""
    return RTRSerialQuery(session_id=u(rng, 16), serial_number=u(rng, 32))


def mobileip(rng: random.Random) -> Packet:
    """A Mobile IP registration request."""
    return MobileIP(type=1) / MobileIPRRQ(
        homeaddr=ipv4(rng), haaddr=ipv4(rng), coaddr=ipv4(rng), id=u(rng, 64),
        lifetime=rng.randint(60, 1800),
    )  # fmt: skip


def skinny(rng: random.Random) -> Packet:
    """A Skinny (SCCP) message with a short body; scapy leaves the length to the caller (it
    counts the message id and the body, not the length and reserved words)."""
    body = blob(rng, 0, 16)
    msg = rng.choice((0x0000, 0x0100, 0x0001))
    return Skinny(len=4 + len(body), msg=msg, res=0) / Raw(body)


def http2(rng: random.Random) -> Packet:
    """An HTTP/2 SETTINGS or PING frame."""
    if rng.random() < 0.5:
        settings = [H2Setting(id=rng.randint(1, 6), value=u(rng, 16)) for _ in range(2)]
        return H2Frame() / H2SettingsFrame(settings=settings)
    return H2Frame(flags=set()) / H2PingFrame(opaque=u(rng, 64))


def modbus(rng: random.Random) -> Packet:
    """A Modbus/TCP request (FC 1, 3, 6, 16) or response (FC 1, 3, 4, 6, 16)."""
    kind = rng.randrange(9)
    pdu: Packet
    if kind == 0:
        pdu = ModbusPDU01ReadCoilsRequest(startAddr=u(rng, 16), quantity=rng.randint(1, 2000))
    elif kind == 1:
        pdu = ModbusPDU03ReadHoldingRegistersRequest(
            startAddr=u(rng, 16), quantity=rng.randint(1, 125)
        )
    elif kind == 2:
        pdu = ModbusPDU06WriteSingleRegisterRequest(
            registerAddr=u(rng, 16), registerValue=u(rng, 16)
        )
    elif kind == 3:
        values = [u(rng, 16) for _ in range(rng.randint(1, 8))]
        pdu = ModbusPDU10WriteMultipleRegistersRequest(startAddr=u(rng, 16), outputsValue=values)
    else:
        return ModbusADUResponse(transId=u(rng, 16), unitId=rng.randint(0, 247)) / (
            _modbus_response(rng, kind)
        )
    return ModbusADURequest(transId=u(rng, 16), unitId=rng.randint(0, 247)) / pdu


def _modbus_response(rng: random.Random, kind: int) -> Packet:
    if kind == 4:
        return ModbusPDU01ReadCoilsResponse(
            coilStatus=[u(rng, 8) for _ in range(rng.randint(1, 4))]
        )
    if kind in (5, 6):
        cls = ModbusPDU03ReadHoldingRegistersResponse if kind == 5 else (
            ModbusPDU04ReadInputRegistersResponse
        )  # fmt: skip
        return cls(registerVal=[u(rng, 16) for _ in range(rng.randint(1, 10))])
    if kind == 7:
        return ModbusPDU06WriteSingleRegisterResponse(
            registerAddr=u(rng, 16), registerValue=u(rng, 16)
        )
    return ModbusPDU10WriteMultipleRegistersResponse(
        startAddr=u(rng, 16), quantityRegisters=rng.randint(1, 123)
    )


def enip(rng: random.Random) -> Packet:
    """An EtherNet/IP encapsulation request (register session, list identity/services)."""
    # length=None: scapy's default 0 would not be replaced by the payload length.
    if rng.random() < 0.5:
        return (
            ENIPTCP(commandId=0x65, length=None, senderContext=u(rng, 64)) / ENIPRegisterSession()
        )
    return ENIPTCP(commandId=rng.choice((0x63, 0x04)), length=None, senderContext=u(rng, 64))


def pnio_dcp(rng: random.Random) -> Packet:
    """A PROFINET DCP identify-all request (Ethernet type 0x8892)."""
    return ProfinetIO(frameID=0xFEFE) / ProfinetDCP(
        service_id=5, service_type=0, xid=u(rng, 32), option=0xFF, sub_option=0xFF,
        dcp_data_length=4,
    )  # fmt: skip


def knx(rng: random.Random) -> Packet:
    """A KNXnet/IP search request."""
    return KNX() / KNXSearchRequest(discovery_endpoint=HPAI(ip_address=ipv4(rng), port=3671))


def someip(rng: random.Random) -> Packet:
    """A SOME/IP request with a payload."""
    return SOMEIP(
        srv_id=u(rng, 16), sub_id=u(rng, 15), client_id=u(rng, 16), session_id=u(rng, 16),
        msg_type=0, retcode=0,
    ) / Raw(blob(rng, 0, 24))  # fmt: skip


def doip(rng: random.Random) -> Packet:
    """A DoIP vehicle identification or routing activation request."""
    if rng.random() < 0.5:
        return DoIP(payload_type=0x0001)
    return DoIP(payload_type=0x0005, source_address=u(rng, 16), activation_type=0)


def ptp(rng: random.Random) -> Packet:
    """A PTPv2 sync message."""
    return PTP(messageType=0, sequenceId=u(rng, 16), clockIdentity=u(rng, 64))


def smb(rng: random.Random) -> Packet:
    """An SMB1 negotiate request in its NetBIOS session header (TCP 445)."""
    dialects = [b"PC NETWORK PROGRAM 1.0", b"LANMAN1.0", b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"]
    chosen = rng.sample(dialects, rng.randint(1, len(dialects)))
    return (
        NBTSession()
        / SMB_Header(PIDLow=u(rng, 16), MID=u(rng, 16), TID=u(rng, 16))
        / SMBNegotiate_Request(Dialects=[SMB_Dialect(DialectString=d) for d in chosen])
    )


def openflow(rng: random.Random) -> Packet:
    """An OpenFlow 1.0 hello, echo request or features request."""
    cls = rng.choice((OFPTHello, OFPTEchoRequest, OFPTFeaturesRequest))
    return cls(xid=u(rng, 32))


def pfcp(rng: random.Random) -> Packet:
    """A PFCP heartbeat request with a recovery time stamp."""
    return PFCP(seq=u(rng, 24)) / PFCPHeartbeatRequest(
        IE_list=[IE_RecoveryTimeStamp(timestamp=u(rng, 32))]
    )


def ikev2(rng: random.Random) -> Packet:
    """An IKEv2 IKE_SA_INIT header with a nonce payload."""
    return IKEv2(init_SPI=rng.randbytes(8), exch_type=34, flags="Initiator", next_payload=40) / (
        IKEv2_Nonce(nonce=rng.randbytes(rng.choice((16, 32))))
    )


def gtpv2(rng: random.Random) -> Packet:
    """A GTPv2-C echo request with the recovery IE."""
    return GTPv2Header(gtp_type=1, P=0, seq=u(rng, 24)) / GTPV2EchoRequest(
        IE_list=[IE_RecoveryRestart(restart_counter=u(rng, 8))]
    )


def ethercat(rng: random.Random) -> Packet:
    """An EtherCAT frame with one auto-increment read datagram (EtherType 0x88a4)."""
    return EtherCat() / EtherCatAPRD(
        adp=u(rng, 16), ado=u(rng, 16), irq=0, data=[0] * rng.randint(1, 8), wkc=u(rng, 8)
    )


def pim(rng: random.Random) -> Packet:
    """A PIMv2 hello with hold time, DR priority and generation id (IP protocol 103)."""
    return PIMv2Hdr() / PIMv2Hello(
        option=[
            PIMv2HelloHoldtime(holdtime=rng.choice((105, 210, 3600))),
            PIMv2HelloDRPriority(dr_priority=u(rng, 32)),
            PIMv2HelloGenerationID(generation_id=u(rng, 32)),
        ]
    )


def lacp(rng: random.Random) -> Packet:
    """An LACPDU in its slow-protocols header (EtherType 0x8809)."""
    return SlowProtocol() / LACP(
        actor_system=mac(rng), actor_key=u(rng, 16), actor_port_number=u(rng, 16),
        partner_system=mac(rng), partner_key=u(rng, 16), partner_port_number=u(rng, 16),
    )  # fmt: skip


def pppoe_discovery(rng: random.Random) -> Packet:
    """A PPPoE discovery initiation (PADI) with service-name and host-uniq tags (0x8863)."""
    tags = [PPPoETag(tag_type=0x0101, tag_value=b""),
            PPPoETag(tag_type=0x0103, tag_value=rng.randbytes(rng.choice((4, 8))))]  # fmt: skip
    return PPPoED(code=0x09, sessionid=0) / PPPoED_Tags(tag_list=tags)


def eapol(rng: random.Random) -> Packet:
    """An EAPOL-EAP identity response (EtherType 0x888e)."""
    return EAPOL(version=rng.choice((1, 2)), type=0) / EAP(
        code=2, id=u(rng, 8), type=1, identity=f"{word(rng)}@{hostname(rng, 1)}".encode()
    )


def nbdgm(rng: random.Random) -> Packet:
    """A NetBIOS datagram service header (UDP 138), without the SMB mailslot it would carry:
    scapy dissects whatever follows as SMB, so random bytes would be labelled as SMB fields."""
    return NBTDatagram(
        ID=u(rng, 16), SourceIP=ipv4(rng), SourceName=word(rng, 3, 15).upper(),
        DestinationName=word(rng, 3, 15).upper(),
    )  # fmt: skip


def portmap(rng: random.Random) -> Packet:
    """An ONC RPC portmapper GETPORT call (UDP 111)."""
    return (
        RPC(xid=u(rng, 32), mtype=0)
        / RPC_Call(program=100000, pversion=2, procedure=3)
        / (
            GETPORT_Call(
                prog=rng.choice((100003, 100005, 100021)), vers=rng.choice((2, 3)), prot=17
            )
        )
    )
