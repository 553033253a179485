"""Compare the scapy corpus's spans with the repo's tshark labeller on the same frames.

Generated messages are written, on their lower layers, to a pcap (scapy's ``wrpcap``); tshark
decodes it and :mod:`engine.datasets.pcap_label` labels each message exactly as it labels real
captures. Per protocol:

* ``labelled`` — messages tshark labelled that start where the generated message starts; when
  tshark's message is shorter (a tunnel header whose payload Wireshark hands to another
  dissector, TFTP data) the comparison covers tshark's bytes only and the message is also counted
  in ``prefix``; the rest are counted by reason (``pcap_label.SKIP_REASONS``, ``not_found`` when
  tshark found no message of the layer, ``misaligned``);
* ``exact`` — share of labelled messages whose span boundaries are the same set;
* boundary precision / recall / F1 — over interior cuts (span starts other than 0), micro-averaged,
  tshark as the reference;
* ``type_agree`` — share of message bytes given the same type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from engine.datasets.field_types import field_type
from engine.datasets.pcap_label import ProtocolSpec, label_message, messages
from engine.datasets.pdml import run_pdml
from engine.datasets.scapy_corpus import SCAPY_PROTOCOLS, ScapySample, scapy_samples
from engine.detection.boundary import Span
from engine.detection.dataset import LabelledFrame
from engine.errors import DatasetError


@dataclass
class Agreement:
    """Counts for one protocol (see module docstring)."""

    protocol: str
    samples: int = 0
    labelled: int = 0
    prefix: int = 0
    exact: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    same_type_bytes: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def exact_rate(self) -> float:
        """Share of labelled messages with identical span boundaries."""
        return self.exact / self.labelled if self.labelled else 0.0

    @property
    def f1(self) -> float:
        """Boundary F1 (interior cuts), tshark as reference; 0 when nothing was labelled."""
        denom = 2 * self.tp + self.fp + self.fn
        if not self.labelled:
            return 0.0
        return 2 * self.tp / denom if denom else 1.0

    @property
    def type_agree(self) -> float:
        """Share of bytes with the same type."""
        return self.same_type_bytes / self.bytes if self.bytes else 0.0


def _cuts(spans: tuple[Span, ...]) -> set[int]:
    return {s for s, _, _ in spans if s > 0}


def _byte_types(spans: tuple[Span, ...], length: int) -> list[str]:
    out = [""] * length
    for s, e, t in spans:
        out[s:e] = [t] * (e - s)
    return out


def clip(frame: LabelledFrame, length: int) -> LabelledFrame:
    """``frame`` cut to its first ``length`` bytes (spans clipped, emptied ones dropped)."""
    spans = tuple((s, min(e, length), t) for s, e, t in frame.spans if s < length)
    return LabelledFrame(frame.message[:length], spans, frame.protocol)


def compare(ours: LabelledFrame, theirs: LabelledFrame, into: Agreement) -> None:
    """Add one message pair's counts to ``into`` (``theirs`` may be a prefix of ``ours``)."""
    if len(theirs.message) < len(ours.message):
        ours = clip(ours, len(theirs.message))
        into.prefix += 1
    a, b = _cuts(ours.spans), _cuts(theirs.spans)
    into.labelled += 1
    into.exact += int({(s, e) for s, e, _ in ours.spans} == {(s, e) for s, e, _ in theirs.spans})
    into.tp += len(a & b)
    into.fp += len(a - b)
    into.fn += len(b - a)
    n = len(ours.message)
    ta, tb = _byte_types(ours.spans, n), _byte_types(theirs.spans, n)
    into.same_type_bytes += sum(x == y for x, y in zip(ta, tb, strict=True))
    into.bytes += n


def _tshark_frame(
    sample: ScapySample, packet_frames: list[LabelledFrame | str]
) -> LabelledFrame | str:
    if not packet_frames:
        return "not_found"
    first = packet_frames[0]
    if isinstance(first, str):
        return first
    if not sample.frame.message.startswith(first.message):
        return "misaligned"
    return first


def check_protocol(protocol: str, n: int, seed: int, workdir: str | Path) -> Agreement:
    """Generate ``n`` messages of ``protocol``, label them with tshark and compare.

    Raises:
        DatasetError: the protocol has no Wireshark layer listed; ``TsharkError`` when tshark
            is missing or fails.
    """
    spec = SCAPY_PROTOCOLS[protocol]
    if not spec.tshark:
        raise DatasetError(f"{protocol}: no Wireshark layer to compare with")
    samples = scapy_samples(protocol, n, seed)
    path = Path(workdir) / f"scapy_{protocol}.pcap"
    wrpcap(str(path), [Ether(s.wire) for s in samples])
    pspec = ProtocolSpec((spec.tshark[0],), spec.tshark[1:])
    result = Agreement(protocol, samples=len(samples))
    label_as = "modbus" if protocol == "modbus" else protocol
    for packet in run_pdml(path, extra_args=spec.tshark_args):
        sample = samples[packet.number - 1]
        frames = [
            label_message(m, sample.wire, label_as, field_type) for m in messages(packet, pspec)
        ]
        got = _tshark_frame(sample, frames)
        if isinstance(got, str):
            result.skipped[got] += 1
        else:
            compare(sample.frame, got, result)
    return result
