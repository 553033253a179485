"""Compare :mod:`engine.datasets.dnp3_frames` labels with the repo's tshark labeller.

The generated link frames are written as the payloads of Ethernet/IPv4/TCP packets (port 20000,
requests to it, responses from it; every packet its own random stream) to a pcap, which
:func:`engine.datasets.pcap_import.import_capture` labels exactly as it labels real captures.
Each labelled message is matched to the generated frame with the same bytes and compared with
:func:`engine.datasets.scapy_check.compare` (exact span boundaries, boundary F1, byte types).
"""

from __future__ import annotations

import random
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from engine.datasets.dnp3_frames import dnp3_frames
from engine.datasets.pcap_import import import_capture
from engine.datasets.scapy_check import Agreement, compare
from engine.datasets.scapy_values import ipv4, mac
from engine.detection.dataset import LabelledFrame

DNP3_PORT = 20000
#: (ours, tshark's) labels of one frame.
Pair = tuple[LabelledFrame, LabelledFrame]


def write_dnp3_pcap(frames: list[LabelledFrame], path: str | Path, seed: int = 0) -> None:
    """Write ``frames`` as TCP payloads, one packet each (responses from port 20000).

    Client ports are drawn above 20000 (the dynamic range, 49152-65535): tshark offers a TCP
    payload to the dissector of the lower port first, and a low random port can belong to
    another dissector (1533, 5061, 6160 took 6 of 1000 frames).
    """
    rng = random.Random(seed)
    packets = []
    for f in frames:
        client = rng.randint(49152, 65535)
        # Link control bit DIR (0x80) is set on master -> outstation frames: the requests.
        sport, dport = (client, DNP3_PORT) if f.message[3] & 0x80 else (DNP3_PORT, client)
        tcp = TCP(sport=sport, dport=dport, flags="PA", seq=rng.getrandbits(32))
        ip = IP(src=ipv4(rng), dst=ipv4(rng))
        packets.append(Ether(src=mac(rng), dst=mac(rng)) / ip / tcp / f.message)
    wrpcap(str(path), packets)


def check_frames(frames: list[LabelledFrame], workdir: str | Path) -> tuple[Agreement, list[Pair]]:
    """Label ``frames`` with tshark and compare; also returns the pairs whose spans differ.

    Raises:
        TsharkError: tshark is missing or fails.
    """
    path = Path(workdir) / "dnp3_frames.pcap"
    write_dnp3_pcap(frames, path)
    imported = import_capture(path, "dnp3")
    result = Agreement("dnp3", samples=len(frames))
    result.skipped.update(imported.skipped)
    ours = {f.message: f for f in frames}
    differ: list[Pair] = []
    for theirs in imported.frames:
        mine = ours.get(theirs.message)
        if mine is None:
            result.skipped["misaligned"] += 1
            continue
        exact = result.exact
        compare(mine, theirs, result)
        if result.exact == exact or mine.spans != theirs.spans:
            differ.append((mine, theirs))
    missing = len(frames) - result.labelled - sum(result.skipped.values())
    if missing > 0:
        result.skipped["not_found"] += missing
    return result, differ


def check_dnp3(n: int, seed: int, workdir: str | Path) -> tuple[Agreement, list[Pair]]:
    """:func:`check_frames` on ``dnp3_frames(n, seed)``."""
    return check_frames(dnp3_frames(n, seed), workdir)
