"""Helpers shared by the stream integration and end-to-end tests (no fixtures here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.field_detector import FieldDetector
from streams.control.command import new_command
from streams.kafka import assign_all

HMAC_KEY = b"integration-test-key-0123456789abcdef"
VERSIONS = ("1.0.0", "1.1.0")
CORRUPT = "9.9.9"


def build_artifacts(root: Path) -> Path:
    """Train two tiny detectors (1.0.0, 1.1.0) and a corrupt 9.9.9 under ``root``."""
    frames = generate("modbus", 300, seed=1)
    train, val = frames[:240], frames[240:]
    out = root / "field_detector"
    out.mkdir(parents=True, exist_ok=True)
    for i, version in enumerate(VERSIONS):
        settings = DetectorSettings(
            version=version, embedding_dim=16, hidden_size=32, num_layers=1, seed=i, device="cpu"
        )
        detector = FieldDetector(Config(detector=settings))
        detector.train(train, val, num_epochs=5, batch_size=32)
        asyncio.run(detector.save_model(out / f"field_detector_v{version}_latest.pt"))
    good = out / f"field_detector_v{VERSIONS[0]}_latest.pt"
    bad = out / f"field_detector_v{CORRUPT}_latest.pt"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte: the old sidecar no longer matches
    bad.write_bytes(bytes(data))
    sidecar = good.with_name(good.name + ".sha256").read_text()
    bad.with_name(bad.name + ".sha256").write_text(sidecar.replace(good.name, bad.name))
    for version in (*VERSIONS, CORRUPT):
        name = f"field_detector_v{version}_latest.pt.sha256"
        ARTIFACT_SHA256[version] = (out / name).read_text().split()[0]
    return root


#: Version → sha256 of the detectors :func:`build_artifacts` wrote (swap/promote carry it).
ARTIFACT_SHA256: dict[str, str] = {}


def command(action: str, target: dict[str, Any], *, now: datetime | None = None) -> bytes:
    """A signed field_detector command's wire bytes.

    ``swap`` and ``promote`` are bound to the built artifact's sha256 (as ``cronos control``
    does it) unless ``target`` names one; a version never built goes without.
    """
    version = target.get("version")
    if action in ("swap", "promote") and "sha256" not in target and version in ARTIFACT_SHA256:
        target = target | {"sha256": ARTIFACT_SHA256[version]}
    _, raw = new_command(action, "field_detector", target, "tests@ci", HMAC_KEY, now=now)
    return raw


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Produce ``(key, value, headers)`` records and wait for their acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a whole topic from the beginning (no group) and keeps what it saw."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._consumer.start()
        await assign_all(self._consumer, self.topic, seek="beginning", timeout_s=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, timeout_s: float = 0.5) -> None:
        """Read whatever arrives within ``timeout_s``."""
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000))
        for recs in batch.values():
            self.records.extend(recs)

    async def until(
        self, done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool], timeout_s: float = 30
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Poll until ``done(records)`` holds; fail after ``timeout_s``."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: condition not met, {len(self.records)} seen")
            batch = await self._consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                self.records.extend(recs)
        return self.records


async def wait_for(check: Callable[[], Any], timeout_s: float = 30, what: str = "condition") -> Any:
    """Poll an async or sync ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


_ARTIFACTS: dict[str, Path] = {}


def shared_artifacts(base: Path) -> Path:
    """:func:`build_artifacts` once per test session (integration and e2e share it)."""
    if "root" not in _ARTIFACTS:
        _ARTIFACTS["root"] = build_artifacts(base)
    return _ARTIFACTS["root"]
