"""Scores for the accuracy benchmark: the engine's metrics plus an untyped span F1.

``score_spans`` (engine) gives boundary P/R/F1 (cuts > 0, type ignored) and typed field F1 (exact
``(start, end, type)``, ``unknown`` spans left out). NEMESYS gives no types, so the table also
shows an *untyped* span F1 — exact ``(start, end)`` pairs, every span counted — for both methods.
``boundary_score_long_ignored`` is the lenient boundary variant (cuts inside long labelled fields
not counted) and ``cut_errors`` names the commonest missed and extra cuts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from engine.detection.boundary import Span
from engine.detection.scoring import PRF, score_spans


def untyped_span_f1(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> float:
    """F1 over exact ``(start, end)`` pairs, types ignored, every span counted."""
    prf = PRF()
    for p, g in zip(predicted, gold, strict=True):
        prf.add({(s[0], s[1]) for s in p}, {(s[0], s[1]) for s in g})
    return prf.f1


def score(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Boundary P/R/F1, typed field F1 and untyped span F1."""
    s = score_spans(predicted, gold)
    return {
        "boundary_precision": s["boundary_precision"],
        "boundary_recall": s["boundary_recall"],
        "boundary_f1": s["boundary_f1"],
        "field_f1": s["f1"],
        "span_f1": untyped_span_f1(predicted, gold),
    }


def _cuts(spans: Sequence[Span]) -> set[int]:
    return {s[0] for s in spans if s[0] > 0}


def boundary_score_long_ignored(
    predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]], min_len: int = 16
) -> dict[str, float]:
    """Boundary P/R/F1 with predicted cuts strictly inside a gold span of ``>= min_len`` bytes
    dropped (neither hit nor false positive).

    Long labelled fields (names, payloads, certificates, padding) often have inner structure
    the labels do not show; this variant stops such splits from counting as errors. Gold cuts
    are unchanged, so recall equals the raw variant's.
    """
    prf = PRF()
    for p, g in zip(predicted, gold, strict=True):
        long = [(s[0], s[1]) for s in g if s[1] - s[0] >= min_len]
        kept = {c for c in _cuts(p) if not any(a < c < b for a, b in long)}
        prf.add(set(kept), set(_cuts(g)))
    return {
        "boundary_precision": prf.precision,
        "boundary_recall": prf.recall,
        "boundary_f1": prf.f1,
    }


def _extra_context(c: int, gold: Sequence[Span]) -> str:
    for s, e, t in gold:
        if s < c < e:
            width = e - s
            where = f"+{c - s}" if width <= 8 else ("long" if width >= 16 else "mid")
            return f"inside {t}[{width if width <= 8 else '9-15' if width < 16 else '16+'}]@{where}"
    return "outside any field"


def cut_errors(
    predicted: Sequence[Sequence[Span]],
    gold: Sequence[Sequence[Span]],
    protocols: Sequence[str],
    top: int = 8,
) -> dict[str, list[tuple[str, int]]]:
    """The commonest missed and extra cuts, by context, with counts.

    A missed cut is named ``protocol: left type | right type`` (``·`` for bytes no span
    covers); an extra cut ``protocol: inside TYPE[width]@offset`` — the gold field it splits,
    its width in bytes and the cut's offset in it (``mid``/``long`` for fields over 8 bytes).
    """
    missed: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for p, g, proto in zip(predicted, gold, protocols, strict=True):
        pc, gc = _cuts(p), _cuts(g)
        starts = {s[0]: s[2] for s in g}
        ends = {s[1]: s[2] for s in g}
        for c in gc - pc:
            missed[f"{proto}: {ends.get(c, '·')} | {starts.get(c, '·')}"] += 1
        for c in pc - gc:
            extra[f"{proto}: {_extra_context(c, g)}"] += 1
    return {"missed": missed.most_common(top), "extra": extra.most_common(top)}
