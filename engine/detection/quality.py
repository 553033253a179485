"""Data-quality checks run before training, with a report and a refusal on error.

:func:`check_dataset` reads the raw examples (tuples, JSONL dicts or :class:`LabelledFrame`) and
collects every problem instead of stopping at the first, so one run shows all that is wrong:

errors (training refused)
    ``malformed`` (not a frame), ``empty_frame``, ``oversized_frame``, ``bad_span`` (not
    ``(int, int, str)``, empty, or negative), ``span_past_end``, ``overlap``, ``leakage`` (the
    same bytes in the train and validation sets), ``label_conflict`` (identical bytes labelled
    two ways)
warnings
    ``gap`` (bytes no span covers: the detector trains them as ``O``, so gaps are allowed unless
    the policy is strict), ``unlabelled_frame``, ``rare_label``, ``unseen_label`` (a type only in
    validation), ``duplicate`` (repeats within one set)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.detection.dataset import LabelledFrame
from engine.errors import DatasetError

MAX_EXAMPLES = 5
# In report order: problems of single frames first, then those between frames.
ERROR_CODES = (
    "malformed",
    "empty_frame",
    "oversized_frame",
    "bad_span",
    "span_past_end",
    "overlap",
    "leakage",
    "label_conflict",
)


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """What counts as an error.

    Attributes:
        max_bytes: Largest acceptable frame.
        strict_gaps: Treat uncovered bytes as errors rather than warnings.
        rare_label_min: A field type with fewer training spans than this is reported as rare.
    """

    max_bytes: int = 64 * 1024
    strict_gaps: bool = False
    rare_label_min: int = 5


@dataclass(slots=True)
class Issue:
    """One kind of problem, counted, with a few example locations (``train[12]: …``)."""

    code: str
    severity: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(where)


@dataclass(slots=True)
class QualityReport:
    """Outcome of :func:`check_dataset`: ``errors``, ``warnings`` and ``stats``."""

    errors: list[Issue]
    warnings: list[Issue]
    stats: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when nothing would refuse training."""
        return not self.errors

    def summary(self) -> str:
        """One line: error and warning codes with counts."""
        errs = ", ".join(f"{i.code}×{i.count}" for i in self.errors) or "none"
        warns = ", ".join(f"{i.code}×{i.count}" for i in self.warnings) or "none"
        return f"errors: {errs}; warnings: {warns}"

    def to_dict(self) -> dict[str, Any]:
        """Plain form for JSON output."""

        def issues(xs: list[Issue]) -> list[dict[str, Any]]:
            return [{"code": i.code, "count": i.count, "examples": i.examples} for i in xs]

        return {"ok": self.ok, "errors": issues(self.errors), "warnings": issues(self.warnings)} | {
            "stats": self.stats
        }


class DataQualityError(DatasetError):
    """Training was refused because the data-quality check found errors; ``report`` says which."""

    def __init__(self, report: QualityReport) -> None:
        firsts = "; ".join(f"{i.code}: {i.examples[0]}" for i in report.errors if i.examples)
        super().__init__(f"data-quality check failed: {report.summary()} — {firsts}")
        self.report = report


class _Collector:
    def __init__(self, policy: QualityPolicy) -> None:
        self.policy = policy
        self.issues: dict[str, Issue] = {}

    def add(self, code: str, where: str) -> None:
        error = code in ERROR_CODES or (code == "gap" and self.policy.strict_gaps)
        issue = self.issues.setdefault(code, Issue(code, "error" if error else "warning"))
        issue.add(where)


def _message(item: Any) -> tuple[Any, Any]:
    """(message, spans) of a raw example, without validating either."""
    if isinstance(item, LabelledFrame):
        return item.message, item.spans
    if isinstance(item, dict):
        return bytes.fromhex(item["frame_hex"]), item["fields"]
    if isinstance(item, tuple | list) and len(item) in (2, 3):
        return item[0], item[1]
    raise TypeError(type(item).__name__)


def _check_frame(item: Any, where: str, c: _Collector) -> tuple[bytes, tuple] | None:
    """Check one example; returns (message, normalised spans) when it is usable at all."""
    try:
        message, spans = _message(item)
        spans = list(spans)
    except (KeyError, TypeError, ValueError):
        c.add("malformed", where)
        return None
    if not isinstance(message, bytes | bytearray):
        c.add("malformed", where)
        return None
    message = bytes(message)
    if not message:
        c.add("empty_frame", where)
        return None
    if len(message) > c.policy.max_bytes:
        c.add("oversized_frame", f"{where} ({len(message)} bytes)")
    clean: list[tuple[int, int, str]] = []
    for i, span in enumerate(spans):
        try:
            start, end, ftype = span
        except (TypeError, ValueError):
            c.add("bad_span", f"{where} span {i}")
            continue
        ok_types = isinstance(start, int) and isinstance(end, int) and isinstance(ftype, str)
        if not ok_types or not ftype or start < 0 or end <= start:
            c.add("bad_span", f"{where} span {i} {span!r}")
            continue
        if end > len(message):
            c.add("span_past_end", f"{where} span {i} ends at {end} > {len(message)} bytes")
        clean.append((start, end, ftype))
    clean.sort()
    covered = 0  # end of the furthest-reaching span so far
    for span in clean:
        start, end, _ = span
        if start < covered:
            c.add("overlap", f"{where} {span} starts before byte {covered}")
        elif start > covered:
            c.add("gap", f"{where} bytes {covered}-{start}")
        covered = max(covered, end)
    if not clean:
        c.add("unlabelled_frame", where)
    elif covered < len(message):
        c.add("gap", f"{where} bytes {covered}-{len(message)}")
    return message, tuple(clean)


def check_dataset(
    train: Sequence[Any],
    val: Sequence[Any],
    policy: QualityPolicy | None = None,
    *,
    names: tuple[str, str] = ("train", "val"),
) -> QualityReport:
    """Check a training and a validation set together.

    Args:
        train: Training examples, in any form :func:`~engine.detection.dataset.coerce_frame`
            accepts.
        val: Validation examples.
        policy: Thresholds; defaults to :class:`QualityPolicy`.
        names: How the two sets are named in the report's examples.

    Returns:
        A report; ``report.ok`` is False when training should be refused.
    """
    c = _Collector(policy or QualityPolicy())
    labels: dict[str, Counter[str]] = {"train": Counter(), "val": Counter()}
    seen: dict[str, dict[bytes, tuple]] = {"train": {}, "val": {}}
    labellings: dict[bytes, set[tuple]] = defaultdict(set)
    lengths: list[int] = []
    for name, label, items in (("train", names[0], train), ("val", names[1], val)):
        for i, item in enumerate(items):
            where = f"{label}[{i}]"
            checked = _check_frame(item, where, c)
            if checked is None:
                continue
            message, spans = checked
            lengths.append(len(message))
            labels[name].update(s[2] for s in spans)
            labellings[message].add(spans)
            if message in seen[name]:
                c.add("duplicate", where)
            else:
                seen[name][message] = spans
    for message in seen["val"].keys() & seen["train"].keys():
        c.add("leakage", f"frame {message[:16].hex()}{'…' if len(message) > 16 else ''}")
    for message, variants in labellings.items():
        if len(variants) > 1:
            c.add("label_conflict", f"frame {message[:16].hex()}: {len(variants)} labellings")
    for ftype, n in sorted(labels["train"].items()):
        if n < c.policy.rare_label_min:
            c.add("rare_label", f"{ftype}: {n} training spans")
    for ftype in sorted(set(labels["val"]) - set(labels["train"])):
        c.add("unseen_label", f"{ftype}: only in validation")
    stats = {
        "train_rows": len(train),
        "val_rows": len(val),
        "unique_train_frames": len(seen["train"]),
        "unique_val_frames": len(seen["val"]),
        "min_bytes": min(lengths, default=0),
        "max_bytes": max(lengths, default=0),
        "mean_bytes": round(sum(lengths) / len(lengths), 2) if lengths else 0.0,
        "labels": {
            t: {"train": labels["train"][t], "val": labels["val"][t]}
            for t in sorted(set(labels["train"]) | set(labels["val"]))
        },
    }
    order = {code: n for n, code in enumerate(ERROR_CODES)}
    issues = sorted(c.issues.values(), key=lambda i: (order.get(i.code, len(order)), i.code))
    return QualityReport(
        errors=[i for i in issues if i.severity == "error"],
        warnings=[i for i in issues if i.severity == "warning"],
        stats=stats,
    )
