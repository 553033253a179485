"""The scapy-generated corpus: coverage, tiling, determinism, the evaluation denylist, bit-field
merging and agreement with the tshark labeller."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.contrib.mqtt import MQTT, MQTTConnect
from scapy.layers.l2 import Ether

from engine.datasets import scapy_corpus
from engine.datasets.field_types import field_type, scapy_field_type
from engine.datasets.scapy_check import check_protocol
from engine.datasets.scapy_corpus import (
    DENIED_MODULES,
    DENYLIST,
    RESERVED_PORTS,
    SCAPY_PROTOCOLS,
    ScapyProtocol,
    check_allowed,
    scapy_frames,
    scapy_samples,
)
from engine.datasets.scapy_walk import field_spans
from engine.detection.dataset import LabelledFrame, iter_jsonl, load_jsonl, validate_spans
from engine.errors import DatasetError
from tests.support.paths import REPO_ROOT

PER_PROTOCOL = 3


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[LabelledFrame]]:
    return {name: scapy_frames(name, PER_PROTOCOL, seed=7) for name in SCAPY_PROTOCOLS}


def test_at_least_40_protocols_generate(corpus: dict[str, list[LabelledFrame]]) -> None:
    assert len(SCAPY_PROTOCOLS) >= 40
    assert {len(frames) for frames in corpus.values()} == {PER_PROTOCOL}
    families = {p.family for p in SCAPY_PROTOCOLS.values()}
    assert {"network", "routing", "industrial", "iot", "application"} <= families
    for name, frames in corpus.items():
        assert all(f.protocol == name for f in frames)


def test_spans_tile_each_message_within_bounds(corpus: dict[str, list[LabelledFrame]]) -> None:
    for name, frames in corpus.items():
        for frame in frames:
            spans = validate_spans(frame.message, frame.spans, where=name)
            assert spans[0][0] == 0 and spans[-1][1] == len(frame.message), name
            assert all(a[1] == b[0] for a, b in itertools.pairwise(spans)), name
            # scapy names every byte of these messages: nothing is left "unknown".
            assert "unknown" not in {t for _, _, t in spans}, name


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    for name in ("dns", "modbus", "lldp", "dhcpv6"):
        assert scapy_frames(name, 4, seed=1) == scapy_frames(name, 4, seed=1)
        a = [f.message for f in scapy_frames(name, 4, seed=1)]
        b = [f.message for f in scapy_frames(name, 4, seed=2)]
        assert a != b


def test_reserved_protocols_are_never_generated(corpus: dict[str, list[LabelledFrame]]) -> None:
    assert {"s7comm", "bacnet", "iec104", "mqtt", "coap"} <= DENYLIST
    assert not DENYLIST & SCAPY_PROTOCOLS.keys()
    for name in ("mqtt", "CoAP", "s7comm", "bacnet", "iec104"):
        with pytest.raises(DatasetError, match="reserved"):
            scapy_frames(name, 1)
    for spec in SCAPY_PROTOCOLS.values():
        assert spec.carrier.value not in RESERVED_PORTS or spec.carrier.kind not in ("udp", "tcp")
    # No layer of a generated frame (lower layers included) comes from a reserved protocol's
    # scapy module.
    for name in SCAPY_PROTOCOLS:
        for sample in scapy_samples(name, 2, seed=7):
            layer = Ether(sample.wire)
            while layer:
                assert not type(layer).__module__.startswith(DENIED_MODULES), name
                layer = layer.payload


def test_a_builder_that_returns_a_reserved_layer_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(DatasetError, match="reserved"):
        check_allowed("mqttish", MQTT() / MQTTConnect(clientId=b"x"))
    rogue = ScapyProtocol(
        "iot", lambda rng: MQTT() / MQTTConnect(clientId=b"x"), SCAPY_PROTOCOLS["dns"].carrier
    )
    monkeypatch.setitem(scapy_corpus.SCAPY_PROTOCOLS, "rogue", rogue)
    with pytest.raises(DatasetError, match="reserved"):
        scapy_frames("rogue", 1)


def test_bit_fields_sharing_bytes_become_one_span() -> None:
    from scapy.contrib.http2 import H2Frame, H2PingFrame
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.ntp import NTPHeader

    dns = bytes(DNS(id=7, qr=1, opcode=0, rd=1, ra=1, rcode=3, qd=DNSQR(qname="a.example")))
    spans = field_spans(dns, DNS)
    flags = [s for s in spans if s.start < 4 and s.end > 2]
    # qr..rcode are ten scapy bit-fields over bytes 2-3: one flags field, as tshark's dns.flags.
    assert [(s.start, s.end, s.field) for s in flags] == [(2, 4, None)]
    assert flags[0].bits == ("qr", "opcode", "aa", "tc", "rd", "ra", "z", "ad", "cd", "rcode")
    assert scapy_corpus.span_type(flags[0]) == "flags"
    ntp = field_spans(bytes(NTPHeader()), NTPHeader)
    assert (ntp[0].start, ntp[0].end, ntp[0].bits) == (0, 1, ("leap", "version", "mode"))
    # A reserved bit in front of a 31-bit stream id: the dominant member names the span.
    h2 = field_spans(bytes(H2Frame(stream_id=5) / H2PingFrame(opaque=1)), H2Frame)
    stream = next(s for s in h2 if s.start == 5)
    assert (stream.end, stream.name, stream.bits) == (9, "stream_id", ("reserved", "stream_id"))
    assert scapy_corpus.span_type(stream) == "id"


def test_labels_of_a_known_message() -> None:
    frame = scapy_frames("modbus", 1, seed=0)[0]
    assert [t for _, _, t in frame.spans[:5]] == ["id", "magic", "length", "id", "type_code"]
    assert frame.spans[:5] == ((0, 2, "id"), (2, 4, "magic"), (4, 6, "length"), (6, 7, "id"),
                               (7, 8, "type_code"))  # fmt: skip


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
@pytest.mark.parametrize("protocol", ["dns", "ntp", "modbus", "http2"])
def test_spans_agree_with_the_tshark_labeller(protocol: str, tmp_path: Path) -> None:
    result = check_protocol(protocol, 8, seed=3, workdir=tmp_path)
    assert result.labelled == 8 and not result.skipped
    assert result.exact == 8 and result.f1 == 1.0


def test_scapy_names_get_types_and_tshark_names_keep_theirs() -> None:
    assert scapy_field_type("qdcount") == "count"
    assert scapy_field_type("transId") == "id"
    assert scapy_field_type("protoId") == "magic"
    assert scapy_field_type("chksum") == "checksum"
    # The layer's class name is only a hint for names that say nothing, never an override.
    assert scapy_field_type("value", "RadiusAttr_User_Name") == "name"
    assert scapy_field_type("type", "ICMPv6NDOptSrcLLAddr") == "type_code"
    assert scapy_field_type("payload_type", "DoIP") == "type_code"
    # tshark names go through field_type, which the scapy rules do not touch.
    assert field_type("dns.count.queries") == "count"
    assert field_type("mbtcp.prot_id") == "magic"


def test_cli_writes_the_dataset_format(tmp_path: Path) -> None:
    out = tmp_path / "scapy.jsonl"
    script = REPO_ROOT / "scripts" / "scapy_corpus.py"
    args = ["-o", str(out), "--per-protocol", "2", "--protocol", "dns", "--protocol", "modbus"]
    subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True)
    rows = list(iter_jsonl(out))
    assert [r["protocol"] for r in rows] == ["dns", "dns", "modbus", "modbus"]
    assert {r["source"] for r in rows} == {"scapy:dns:0", "scapy:modbus:0"}
    frames = load_jsonl(out)
    assert frames[2] == scapy_frames("modbus", 2, seed=0)[0]


def test_dhcp_options_are_split_like_tshark_shows_them() -> None:
    frame = scapy_frames("dhcp", 1, seed=0)[0]
    assert frame.message[236:240] == b"\x63\x82\x53\x63"  # the magic cookie, then options
    assert (236, 240, "magic") in frame.spans
    options = [s for s in frame.spans if s[0] >= 240]
    # message-type option: code, length, value; the last byte is the end option.
    assert options[:3] == [(240, 241, "type_code"), (241, 242, "length"), (242, 243, "type_code")]
    assert options[-1] == (len(frame.message) - 1, len(frame.message), "type_code")
