"""Leave-one-FAMILY-out: train on every other protocol family, score the held-out family.

Leave-one-protocol-out (``bench/accuracy_lopo.py``) still trains on close relatives of the
held-out protocol (mDNS when DNS is held out, DHCPv6 for DHCP). Here a whole family is held out
of every source of the wide corpus (issue 14): the deduplicated capture messages
(``data/datasets/pcap-all/train.jsonl``, ``make dataset-all``), the scapy corpus
(``data/datasets/scapy.jsonl``, ``make scapy-dataset``) and the balanced Modbus frames; random
procedural grammars (protocols that exist nowhere) are always in. Families (a protocol of the
corpora in no family is never trained on nor scored):

| family     | protocols                                                         | scored on |
|------------|-------------------------------------------------------------------|-----------|
| modbus     | modbus (captures, balanced frames, scapy)                         | captures  |
| dns        | dns, mdns, llmnr                                                  | captures  |
| time       | ntp, ptp                                                          | captures  |
| netbios    | nbns, nbdgm                                                       | captures  |
| dhcp       | dhcp, dhcpv6                                                      | captures  |
| smb        | smb                                                               | captures  |
| dnp3       | dnp3                                                              | captures  |
| routing    | bgp, ospf, rip, ripng, eigrp, pim, ldp, bfd, rtr                  | scapy     |
| tunnels    | gtp_c, gtp_u, gtpv2, l2tp, vxlan, pptp, pfcp                      | scapy     |
| industrial | enip, pnio_dcp, ethercat, knx, doip, someip                       | scapy     |
| l2         | arp, lldp, cdp, lacp, eapol, pppoe_discovery, vqp                 | scapy     |
| auth_vpn   | radius, tacacs, isakmp, ikev2, wireguard                          | scapy     |
| ip_control | icmp, icmpv6, igmp, vrrp, hsrp, mobileip                          | scapy     |
| app        | http2, socks, stun, tftp, portmap, skinny, netflow, openflow      | scapy     |

A family with capture files is scored on its held-out files (``pcap-all/test.jsonl``), else on
its scapy frames; ``by_protocol`` in the result also scores each member's scapy frames. Each
model is trained from scratch on a seeded sample (per protocol and per source, then at most
``--max-messages`` / ``--max-bytes`` in all) with 10 % of the non-procedural sample for early
stopping, for at most ``--epochs`` epochs or ``--minutes`` (the best epoch's weights are kept).
Scores: boundary P/R/F1 (cuts > 0, types ignored), typed field F1, untyped span F1, the lenient
boundary variant (cuts inside labelled fields of >= 16 bytes not counted), the commonest missed
and extra cuts, and NEMESYS on the same messages. ``--untyped`` trains on boundary-only labels
(LOFO-B). S7comm, BACnet, IEC 60870-5-104, MQTT and CoAP are never used (guarded twice).

    python bench/accuracy_lofo.py --family dns --threads 2   # trains one, caches JSON
    python bench/accuracy_lofo.py --all --stop-by 13:25       # every family not cached yet
    python bench/accuracy_lofo.py --table --write             # table from the cache (+ lofo.md)

``--head`` trains with a boundary head and scores the ``crf``, ``head`` and ``auto`` readings of
each model (``{family}_head.json``). The committed head runs used, two processes of seven
families each (about 45 minutes on 2 cores)::

    python bench/accuracy_lofo.py --head --threads 1 --capture-messages 2000 \
        --capture-bytes 150000 --scapy-messages 200 --scapy-bytes 12000 --modbus-balanced 1140 \
        --procedural-grammars 300 --max-messages 20000 --max-bytes 1500000 --epochs 20 \
        --minutes 5.5 --family modbus --family dns ...
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from accuracy_lopo import boundary_only, spans_of  # noqa: E402
from accuracy_scoring import boundary_score_long_ignored, cut_errors, score  # noqa: E402
from nemesys import nemesys_spans  # noqa: E402
from train_default_model import RESERVED, TimeBudgetSpent, check_reserved  # noqa: E402

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.datasets.modbus_balanced import modbus_balanced  # noqa: E402
from engine.datasets.procedural import procedural_frames  # noqa: E402
from engine.datasets.split import sample_per_protocol  # noqa: E402
from engine.detection.dataset import LabelledFrame, load_jsonl  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402
from engine.detection.inference import predict_boundaries  # noqa: E402

CAPTURES = ROOT / "data/datasets/pcap-all"
SCAPY = ROOT / "data/datasets/scapy.jsonl"
RESULTS = ROOT / "bench/results/lofo"
OUT = ROOT / "bench/results/lofo.md"
PREAMBLE = """# Leave-one-family-out field boundary detection

Written by `python bench/accuracy_lofo.py --write` from the cached results in
`bench/results/lofo/` (families and training budget: the module docstring). Each row: a model
trained from scratch on every *other* family (captures, scapy corpus, balanced Modbus frames,
procedural grammars), scored on the held-out family's capture test files (`test` = captures) or
scapy frames. P/R/F1: boundary scores (cut positions > 0, types ignored); *≥16B-ign.*: the same
F1 with predicted cuts inside labelled fields of ≥ 16 bytes not counted; field F1: exact typed
span; span F1: exact `(start, end)`. *LOFO-B*: boundary-only labels. *NEMESYS*: unsupervised
baseline (`bench/nemesys.py`, sigma 0.6) on the same messages. Mean: unweighted over families.

"""
HEAD_PREAMBLE = """
## With a boundary head, at a larger budget (`--head`)

One model per family, trained with typed labels *and* a boundary head (per-byte cut scores
beside the CRF) on a larger sample than the table above (budget in each result's JSON: up to
20,000 messages and 5.5 minutes on one thread), then read three ways: *CRF* (the Viterbi
path's cuts), *head* (cuts where the head's probability is above 0.5), *auto* (the head only
for messages whose mean CRF confidence is below the threshold). Each family's threshold is
the one with the best mean F1 over the *other* families; *auto share*: the fraction of its
messages read by the head.

"""
LONG_FIELD = 16  # bytes: the lenient variant ignores cuts inside labelled fields this long

FAMILIES: dict[str, tuple[str, ...]] = {
    "modbus": ("modbus",),
    "dns": ("dns", "mdns", "llmnr"),
    "time": ("ntp", "ptp"),
    "netbios": ("nbns", "nbdgm"),
    "dhcp": ("dhcp", "dhcpv6"),
    "smb": ("smb",),
    "dnp3": ("dnp3",),
    "routing": ("bgp", "ospf", "rip", "ripng", "eigrp", "pim", "ldp", "bfd", "rtr"),
    "tunnels": ("gtp_c", "gtp_u", "gtpv2", "l2tp", "vxlan", "pptp", "pfcp"),
    "industrial": ("enip", "pnio_dcp", "ethercat", "knx", "doip", "someip"),
    "l2": ("arp", "lldp", "cdp", "lacp", "eapol", "pppoe_discovery", "vqp"),
    "auth_vpn": ("radius", "tacacs", "isakmp", "ikev2", "wireguard"),
    "ip_control": ("icmp", "icmpv6", "igmp", "vrrp", "hsrp", "mobileip"),
    "app": ("http2", "socks", "stun", "tftp", "portmap", "skinny", "netflow", "openflow"),
}
FAMILY_OF = {p: fam for fam, protos in FAMILIES.items() for p in protos}


def _reserved(name: str) -> bool:
    return any(r in name.lower() for r in RESERVED)


assert not any(_reserved(p) for p in FAMILY_OF), "a reserved protocol is in a family"


@dataclass(frozen=True)
class Budget:
    """Training sample and time per model (defaults: ~2.5 min with 2 threads)."""

    capture_messages: int = 500  # per captured protocol
    capture_bytes: int = 30_000
    scapy_messages: int = 40  # per scapy protocol
    scapy_bytes: int = 2_000
    modbus_balanced: int = 285  # 5 of each of the 57 Modbus shapes
    procedural_grammars: int = 40
    procedural_per_grammar: int = 20
    max_messages: int = 6_000  # in all
    max_bytes: int = 400_000
    epochs: int = 12
    minutes: float = 1.75
    max_test: int = 500  # held-out messages per protocol
    seed: int = 0
    hidden_size: int = 48  # LSTM units per direction (the shipped shape); capacity runs vary it


def _known(frames: list[LabelledFrame], held_out: str) -> list[LabelledFrame]:
    """Frames of families other than ``held_out`` (protocols in no family dropped)."""
    return [f for f in frames if FAMILY_OF.get(f.protocol, held_out) != held_out]


def training_sample(held_out: str, b: Budget) -> tuple[list[LabelledFrame], list[LabelledFrame]]:
    """``(train, val)`` from every source without family ``held_out``; val is non-procedural."""
    pool = sample_per_protocol(
        _known(load_jsonl(CAPTURES / "train.jsonl"), held_out),
        max_messages=b.capture_messages,
        max_bytes=b.capture_bytes,
        seed=b.seed,
    )
    pool += sample_per_protocol(
        _known(load_jsonl(SCAPY), held_out),
        max_messages=b.scapy_messages,
        max_bytes=b.scapy_bytes,
        seed=b.seed,
    )
    if held_out != "modbus":
        pool += modbus_balanced(b.modbus_balanced, seed=b.seed)
    rng = random.Random(b.seed)
    rng.shuffle(pool)
    pool = list({f.message: f for f in reversed(pool)}.values())  # sources overlap (Modbus)
    n_val = max(1, len(pool) // 10)
    val, train = pool[:n_val], pool[n_val:]
    seen = {f.message for f in pool}
    procedural = procedural_frames(b.procedural_grammars, b.procedural_per_grammar, seed=b.seed)
    train += [f for f in procedural if f.message not in seen]
    rng.shuffle(train)
    kept, used = [], 0
    for f in train:  # the overall budget; per-source caps normally keep well inside it
        if len(kept) >= b.max_messages or used + len(f.message) > b.max_bytes:
            break
        kept.append(f)
        used += len(f.message)
    check_reserved(kept + val)
    if any(FAMILY_OF.get(f.protocol) == held_out for f in kept + val):
        raise SystemExit(f"held-out family {held_out} leaked into training")
    return kept, val


def test_sample(family: str, b: Budget) -> tuple[list[LabelledFrame], str, list[LabelledFrame]]:
    """``(scored frames, their source, scapy frames of every member)`` for ``family``."""
    members = set(FAMILIES[family])
    scapy = [f for f in load_jsonl(SCAPY) if f.protocol in members]
    scapy = sample_per_protocol(scapy, max_messages=b.max_test, max_bytes=1 << 40, seed=b.seed)
    captured = [f for f in load_jsonl(CAPTURES / "test.jsonl") if f.protocol in members]
    if captured:
        captured = sample_per_protocol(
            captured, max_messages=b.max_test, max_bytes=1 << 40, seed=b.seed
        )
        return captured, "captures", scapy
    return scapy, "scapy", scapy


def train_model(
    train: list[LabelledFrame], val: list[LabelledFrame], b: Budget, *, head: bool = False
) -> tuple[FieldDetector, dict[str, Any]]:
    """A detector trained from scratch within ``b.epochs`` and ``b.minutes``.

    ``head`` trains a boundary head beside the CRF; the detector then reads ``crf`` (the
    readings are compared by :func:`readings`).
    """
    torch.manual_seed(b.seed)
    settings = DetectorSettings(
        device="cpu",
        seed=b.seed,
        boundary_head=head,
        boundary_reading="crf",
        hidden_size=b.hidden_size,
    )
    detector = FieldDetector(Config(detector=settings))
    t0 = time.perf_counter()
    best: dict[str, Any] = {"epoch": 0}
    epochs: list[float] = []

    def on_epoch(epoch: int, result: Any, improved: bool) -> None:
        epochs.append(round(result.val["boundary_f1"], 4))
        if improved and detector.model is not None:
            best.update(epoch=epoch, state=copy.deepcopy(detector.model.state_dict()))
        if time.perf_counter() - t0 > b.minutes * 60:
            raise TimeBudgetSpent

    stopped_on_time = False
    try:
        detector.train(
            train,
            val,
            num_epochs=b.epochs,
            learning_rate=8e-3,
            batch_size=32,
            early_stopping_patience=3,
            on_epoch=on_epoch,
        )
    except TimeBudgetSpent:  # the epoch loop restores the best weights only when it ends itself
        assert detector.model is not None and "state" in best
        detector.model.load_state_dict(best["state"])
        detector.clear_cache()
        stopped_on_time = True
    info = {
        "train_seconds": round(time.perf_counter() - t0, 1),
        "epochs_run": len(epochs),
        "best_epoch": best["epoch"],
        "stopped_on_time": stopped_on_time,
        "val_boundary_f1": epochs,
    }
    return detector, info


def _scores(pred: list[list[Any]], frames: list[LabelledFrame]) -> dict[str, Any]:
    gold = [list(f.spans) for f in frames]
    lenient = boundary_score_long_ignored(pred, gold, LONG_FIELD)
    return {
        **score(pred, gold),
        **{f"long_ignored_{k}": v for k, v in lenient.items()},
    }


#: Confidence thresholds of the ``auto`` reading scored for every family; the table picks one
#: per family on the *other* families (so no family's score chose its own threshold).
FALLBACK_GRID = (0.0, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01)


def readings(
    detector: FieldDetector,
    frames: list[LabelledFrame],
    grid: tuple[float, ...] = FALLBACK_GRID,
) -> dict[str, Any]:
    """Scores of the ``crf`` and ``head`` readings and of ``auto`` at each ``grid`` threshold."""
    model, tagset = detector.model, detector.tagset
    assert model is not None and tagset is not None and model.has_boundary_head
    messages = [f.message for f in frames]
    gold = [list(f.spans) for f in frames]

    def read(reading: Any) -> list[list[Any]]:
        out = predict_boundaries(
            model, tagset, messages, batch_size=256, device=detector.device, reading=reading
        )
        return [[(b.start_pos, b.end_pos, b.field_type) for b in fields] for fields in out]

    crf, head = read("crf"), read("head")
    confidence = [
        sum((e - s) * c for s, e, _, c in fields) / max(len(m), 1)
        for fields, m in zip(
            predict_boundaries(model, tagset, messages, batch_size=256, device=detector.device),
            messages,
            strict=True,
        )
    ]
    auto = {}
    for tau in grid:
        pred = [h if c < tau else r for r, h, c in zip(crf, head, confidence, strict=True)]
        auto[str(tau)] = {
            "fallback_share": sum(c < tau for c in confidence) / max(len(frames), 1),
            **score(pred, gold),
        }
    return {
        "crf": _scores(crf, frames),
        "head": _scores(head, frames),
        "auto": auto,
        "mean_confidence": confidence,
    }


def run_family(
    family: str, b: Budget, *, untyped: bool = False, head: bool = False
) -> dict[str, Any]:
    """Train without ``family``, score it; returns and caches the result as JSON."""
    train, val = training_sample(family, b)
    test, source, scapy = test_sample(family, b)
    if untyped:
        train, val = boundary_only(train), boundary_only(val)
    detector, info = train_model(train, val, b, head=head)
    pred = spans_of(detector, test)
    gold = [list(f.spans) for f in test]
    nemesys = [nemesys_spans(f.message) for f in test]
    scapy_pred = pred if source == "scapy" else spans_of(detector, scapy)
    by_protocol: dict[str, Any] = {}
    for name, frames, spans in (("captures", test, pred), ("scapy", scapy, scapy_pred)):
        if name == "captures" and source != "captures":
            continue
        for proto in sorted({f.protocol for f in frames}):
            idx = [i for i, f in enumerate(frames) if f.protocol == proto]
            s = score([spans[i] for i in idx], [list(frames[i].spans) for i in idx])
            by_protocol[f"{proto} ({name})"] = {"messages": len(idx), **s}
    result = {
        "family": family,
        "protocols": list(FAMILIES[family]),
        "labels": "boundary-only" if untyped else "typed",
        "test_source": source,
        "test_messages": len(test),
        "test_bytes": sum(len(f.message) for f in test),
        "train_messages": len(train),
        "train_bytes": sum(len(f.message) for f in train),
        "train_protocols": sorted({f.protocol for f in train}),
        "val_messages": len(val),
        **info,
        "threads": torch.get_num_threads(),
        "budget": asdict(b),
        "model": _scores(pred, test),
        "nemesys": _scores(nemesys, test),
        "errors": cut_errors(pred, gold, [f.protocol for f in test]),
        "nemesys_errors": cut_errors(nemesys, gold, [f.protocol for f in test], top=4),
        "by_protocol": by_protocol,
    }
    if head:
        r = readings(detector, test)
        result["labels"] = "typed + boundary head"
        result["head"] = r["head"]
        result["auto"] = r["auto"]
        result["mean_confidence"] = {
            "mean": sum(r["mean_confidence"]) / max(len(test), 1),
            "min": min(r["mean_confidence"], default=0.0),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / _file(family, untyped, head, b.hidden_size)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _file(family: str, untyped: bool, head: bool = False, hidden: int = 48) -> str:
    shape = "" if hidden == 48 else f"_h{hidden}"
    if head:
        return f"{family}_head{shape}.json"
    return f"{family}_boundary{shape}.json" if untyped else f"{family}{shape}.json"


def _cached(
    family: str, untyped: bool, head: bool = False, hidden: int = 48
) -> dict[str, Any] | None:
    path = RESULTS / _file(family, untyped, head, hidden)
    return json.loads(path.read_text()) if path.is_file() else None


def table() -> str:
    """Markdown table of the cached results, one row per family, with the unweighted mean."""
    head = (
        "| family | test | msgs | train msgs | P | R | F1 | F1 ≥16B-ign. | field F1 | span F1 "
        "| LOFO-B F1 | NEMESYS P | NEMESYS R | NEMESYS F1 | NEMESYS ≥16B-ign. |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    keys = ("boundary_precision", "boundary_recall", "boundary_f1", "long_ignored_boundary_f1")
    rows, sums, counts = [], [0.0] * 11, [0] * 11
    for family in FAMILIES:
        r, rb = _cached(family, False), _cached(family, True)
        base = r or rb
        if base is None:
            continue
        vals: list[float | None] = [None] * 11
        if r:
            m = r["model"]
            vals[0:6] = [*(m[k] for k in keys), m["field_f1"], m["span_f1"]]
        if rb:
            vals[6] = rb["model"]["boundary_f1"]
        vals[7:11] = [base["nemesys"][k] for k in keys]
        cells = ["–" if v is None else f"{v:.3f}" for v in vals]
        for i, v in enumerate(vals):
            if v is not None:
                sums[i] += v
                counts[i] += 1
        rows.append(
            f"| {family} | {base['test_source']} | {base['test_messages']} "
            f"| {base['train_messages']} | " + " | ".join(cells) + " |"
        )
    mean = ["–" if not n else f"**{s / n:.3f}**" for s, n in zip(sums, counts, strict=True)]
    rows.append(f"| **mean** ({len(rows)} families) | | | | " + " | ".join(mean) + " |")
    return head + "\n".join(rows) + "\n"


def held_out_threshold(results: dict[str, dict[str, Any]], family: str) -> str:
    """The ``auto`` threshold with the best mean F1 over every family *but* ``family``."""
    others = [r for f, r in results.items() if f != family]

    def mean_f1(tau: str) -> float:
        return sum(r["auto"][tau]["boundary_f1"] for r in others) / max(len(others), 1)

    return max(results[family]["auto"], key=mean_f1)


def head_table() -> str:
    """Markdown table of the ``--head`` runs: the CRF, head and auto readings of one model.

    The auto column's threshold is chosen for each family on the other families' results
    (:func:`held_out_threshold`), so no family's score picked its own threshold.
    """
    results = {f: r for f in FAMILIES if (r := _cached(f, False, True)) is not None}
    if not results:
        return ""
    head = (
        "| family | test | msgs | train msgs | epochs | CRF F1 | head F1 | auto F1 | threshold "
        "| auto share | CRF F1 ≥16B-ign. | head F1 ≥16B-ign. | NEMESYS F1 |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows, cols = [], [[] for _ in range(8)]  # type: ignore[var-annotated]
    for family, r in results.items():
        tau = held_out_threshold(results, family)
        auto = r["auto"][tau]
        vals = [
            r["model"]["boundary_f1"],
            r["head"]["boundary_f1"],
            auto["boundary_f1"],
            float(tau),
            auto["fallback_share"],
            r["model"]["long_ignored_boundary_f1"],
            r["head"]["long_ignored_boundary_f1"],
            r["nemesys"]["boundary_f1"],
        ]
        for c, v in zip(cols, vals, strict=True):
            c.append(v)
        rows.append(
            f"| {family} | {r['test_source']} | {r['test_messages']} | {r['train_messages']} "
            f"| {r['epochs_run']} | " + " | ".join(f"{v:.3f}" for v in vals) + " |"
        )
    means = " | ".join(f"**{sum(c) / len(c):.3f}**" for c in cols)
    rows.append(f"| **mean** ({len(rows)} families) | | | | | {means} |")
    return head + "\n".join(rows) + "\n"


def capacity_table(hidden: int) -> str:
    """Head runs of a wider or narrower LSTM beside the 48-unit ones, for families with both."""
    rows, values = [], []
    for family in FAMILIES:
        base, other = _cached(family, False, True), _cached(family, False, True, hidden)
        if base is None or other is None:
            continue
        f1 = [r[k]["boundary_f1"] for r in (base, other) for k in ("model", "head")]
        values.append(f1)
        cells = [f"{v:.3f}" for v in f1] + [str(base["epochs_run"]), str(other["epochs_run"])]
        rows.append(f"| {family} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    means = [sum(col) / len(col) for col in zip(*values, strict=True)]
    cells = " | ".join(f"**{m:.3f}**" for m in means)
    rows.append(f"| **mean** ({len(rows)} families) | {cells} | | |")
    head = (
        f"\n## Capacity: {hidden} LSTM units per direction against 48 (same sample and time)\n\n"
        f"| family | 48: CRF F1 | 48: head F1 | {hidden}: CRF F1 | {hidden}: head F1 "
        f"| 48: epochs | {hidden}: epochs |\n|---|---:|---:|---:|---:|---:|---:|\n"
    )
    return head + "\n".join(rows) + "\n"


def error_summary(top: int = 3) -> str:
    """The commonest missed and extra cuts of each cached typed model, as a markdown list."""
    lines = []
    for family in FAMILIES:
        r = _cached(family, False)
        if r is None:
            continue
        fmt = "; ".join
        missed = fmt(f"{k} ×{n}" for k, n in r["errors"]["missed"][:top])
        extra = fmt(f"{k} ×{n}" for k, n in r["errors"]["extra"][:top])
        lines.append(f"* **{family}** — missed: {missed or 'none'}. Extra: {extra or 'none'}.")
    return "\n".join(lines) + "\n"


def write_report(path: Path) -> None:
    """``PREAMBLE``, the table and the error patterns, to ``path``."""
    heads = head_table()
    if heads:
        heads = HEAD_PREAMBLE + heads + capacity_table(96)
    path.write_text(
        PREAMBLE + table() + heads + "\n## Commonest errors (typed model)\n\n" + error_summary()
    )


def _past(stop_by: str | None) -> bool:
    if not stop_by:
        return False
    now = dt.datetime.now(dt.UTC)
    hh, mm = (int(x) for x in stop_by.split(":"))
    return now >= now.replace(hour=hh, minute=mm, second=0, microsecond=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", action="append", choices=list(FAMILIES), default=[])
    parser.add_argument("--all", action="store_true", help="every family without a cached result")
    parser.add_argument("--table", action="store_true", help="print the table from the cache")
    parser.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    parser.add_argument("--untyped", action="store_true", help="boundary-only labels (LOFO-B)")
    parser.add_argument(
        "--head", action="store_true", help="typed labels + boundary head; scores every reading"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stop-by", metavar="HH:MM", help="UTC; start no model after it")
    for name, value in asdict(Budget()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budget = Budget(**{k: getattr(args, k) for k in asdict(Budget())})
    todo = list(args.family)
    if args.all:
        todo += [
            f
            for f in FAMILIES
            if _cached(f, args.untyped, args.head, args.hidden_size) is None and f not in todo
        ]
    for family in todo:
        if _past(args.stop_by):
            print(f"past {args.stop_by} UTC: not starting {family}", flush=True)
            break
        r = run_family(family, budget, untyped=args.untyped, head=args.head)
        m, ne = r["model"], r["nemesys"]
        print(
            f"{family}: boundary F1 {m['boundary_f1']:.3f} (≥16B ign. "
            f"{m['long_ignored_boundary_f1']:.3f}) field F1 {m['field_f1']:.3f}; NEMESYS "
            f"{ne['boundary_f1']:.3f}; {r['train_messages']} msgs, {r['epochs_run']} epochs, "
            f"{r['train_seconds']:.0f} s",
            flush=True,
        )
        if args.head:
            auto = {t: round(a["boundary_f1"], 3) for t, a in r["auto"].items()}
            print(f"  head F1 {r['head']['boundary_f1']:.3f}; auto by threshold {auto}", flush=True)
    if args.table:
        print(table(), end="")
    if args.write:
        write_report(OUT)


if __name__ == "__main__":
    main()
