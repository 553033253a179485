"""Modbus/TCP ingest: poll a device and publish every request and response frame to Kafka.

pymodbus's async client does the talking; its ``trace_packet`` hook hands us the exact bytes on
the wire, so the frames in ``cronos.frames.raw`` are what the device sent, not a re-encoding.
Received bytes are re-assembled into whole ADUs with the MBAP length (TCP may split or join
them). Responses to register reads carry a ``target`` header so the worker translates them;
requests and exception responses do not. A response also carries the request it answers
(``modbus-function``, ``modbus-address``, ``modbus-count``; matched by transaction id), because
its own bytes do not say which register it starts at.

A lost or refused connection is retried with exponential backoff for as long as the ingest
runs; every failure is logged and counted (``cronos_modbus_device_errors_total{kind}``,
``cronos_modbus_reconnects_total``, ``cronos_modbus_polls_total{outcome}``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException

from engine.translation.pcap import split_mbap
from streams.edge.edge_metrics import (
    MODBUS_CONNECTED,
    MODBUS_ERRORS,
    MODBUS_POLL_LATENCY,
    MODBUS_POLLS,
    MODBUS_RECONNECTS,
)
from streams.edge.raw_publisher import RawPublisher, frame_headers
from streams.edge.settings import IngestSettings

log = logging.getLogger(__name__)

_POLL_RE: Final = re.compile(
    r"^(?P<kind>hr|ir):(?P<start>\d+)(?:-(?P<end>\d+))?(?:@(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m))?$"
)
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0}
MAX_REGISTERS: Final = 125  # per read request (Modbus application protocol, 6.3)


@dataclass(frozen=True, slots=True)
class PollSpec:
    """One register block read every ``interval_s`` seconds.

    Attributes:
        kind: ``hr`` (holding registers, FC 3) or ``ir`` (input registers, FC 4).
        start: First register address.
        count: Number of registers (1..125).
        interval_s: Poll period.
    """

    kind: Literal["hr", "ir"]
    start: int
    count: int
    interval_s: float = 1.0

    @property
    def function_code(self) -> int:
        """Modbus function code of the read."""
        return 3 if self.kind == "hr" else 4


def parse_poll(text: str) -> PollSpec:
    """Parse ``KIND:START[-END][@INTERVAL]``, e.g. ``hr:0-9@1s``, ``ir:5@250ms`` (default 1 s).

    Raises:
        ValueError: Unknown syntax, END before START, more than 125 registers, or a zero period.
    """
    m = _POLL_RE.match(text.strip())
    if not m:
        raise ValueError(f"poll {text!r}: expected KIND:START[-END][@N(ms|s|m)], KIND hr or ir")
    start = int(m["start"])
    end = int(m["end"]) if m["end"] is not None else start
    count = end - start + 1
    if count < 1 or count > MAX_REGISTERS or end > 0xFFFF:
        raise ValueError(f"poll {text!r}: 1..{MAX_REGISTERS} registers within 0..65535")
    interval = float(m["num"]) * _UNITS[m["unit"]] if m["num"] else 1.0
    if interval <= 0:
        raise ValueError(f"poll {text!r}: the interval must be positive")
    kind: Literal["hr", "ir"] = "hr" if m["kind"] == "hr" else "ir"
    return PollSpec(kind, start, count, interval)


@dataclass
class IngestStats:
    """What one ingest did so far (the metrics hold the same, process-wide)."""

    polls_ok: int = 0
    polls_failed: int = 0
    connects: int = 0
    disconnects: int = 0
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)


class ModbusIngest:
    """Polls one unit of one Modbus/TCP device and publishes the frames.

    Args:
        host: Device address.
        port: Device port.
        unit: Unit (device) id.
        polls: Register blocks to read.
        publisher: Where frames go (started by the caller).
        settings: Topic, headers, timeouts and backoff.
    """

    def __init__(
        self,
        host: str,
        port: int,
        unit: int,
        polls: Sequence[PollSpec],
        publisher: RawPublisher,
        settings: IngestSettings | None = None,
    ) -> None:
        if not polls:
            raise ValueError("at least one poll is needed")
        self.host, self.port, self.unit = host, port, unit
        self.polls = list(polls)
        self.publisher = publisher
        self.settings = settings or IngestSettings()
        self.source = self.settings.source or f"modbus://{host}:{port}/{unit}"
        self.stats = IngestStats()
        self.connected = False
        self._rx = bytearray()
        self._captured: list[tuple[str, bytes, int]] = []
        #: transaction id → (function code, start address, count) of reads not yet answered.
        self._requests: dict[bytes, tuple[int, int, int]] = {}

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set (or the task is cancelled); reconnect on every failure."""
        stop = stop or asyncio.Event()
        delay = self.settings.backoff_s
        while not stop.is_set():
            client = AsyncModbusTcpClient(
                self.host,
                port=self.port,
                timeout=self.settings.timeout_s,
                retries=0,
                reconnect_delay=0,  # we reconnect ourselves, with our backoff
                trace_packet=self._trace,
            )
            self._rx.clear()
            try:
                if await client.connect():
                    self._connected()
                    delay = self.settings.backoff_s
                    await self._poll_loop(client, stop)
                else:
                    self._error("connect", f"cannot connect to {self.host}:{self.port}")
            except (ModbusException, OSError, TimeoutError) as exc:
                kind = "timeout" if isinstance(exc, ModbusIOException | TimeoutError) else "io"
                self._error(kind, f"{type(exc).__name__}: {exc}")
            finally:
                if self.connected:
                    self.stats.disconnects += 1
                    self.connected = False
                    MODBUS_CONNECTED.set(0)
                client.close()
                await self._flush_captured()
            if not stop.is_set():
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, self.settings.max_backoff_s)

    def _connected(self) -> None:
        if self.stats.connects:
            MODBUS_RECONNECTS.labels(outcome="ok").inc()
            log.warning("modbus %s: reconnected", self.source)
        self.stats.connects += 1
        self.connected = True
        MODBUS_CONNECTED.set(1)

    def _error(self, kind: str, detail: str) -> None:
        MODBUS_ERRORS.labels(kind=kind).inc()
        if kind == "connect" and self.stats.connects:
            MODBUS_RECONNECTS.labels(outcome="failed").inc()
        self.stats.last_error = f"{kind}: {detail}"
        self.stats.errors.append(self.stats.last_error)
        del self.stats.errors[:-50]  # keep the recent ones only
        log.warning("modbus %s: %s error: %s", self.source, kind, detail)

    async def _poll_loop(self, client: AsyncModbusTcpClient, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        due = [loop.time()] * len(self.polls)
        while not stop.is_set():
            i = min(range(len(due)), key=due.__getitem__)
            wait = due[i] - loop.time()
            if wait > 0 and await _sleep_or_stop(stop, wait):
                return
            # Next due time from the schedule, not from now: polls keep their period on average.
            due[i] = max(due[i] + self.polls[i].interval_s, loop.time())
            await self._poll(client, self.polls[i])

    async def _poll(self, client: AsyncModbusTcpClient, spec: PollSpec) -> None:
        start = time.perf_counter()
        read = client.read_holding_registers if spec.kind == "hr" else client.read_input_registers
        try:
            response = await read(spec.start, count=spec.count, device_id=self.unit)
        except ModbusException:
            self.stats.polls_failed += 1
            MODBUS_POLLS.labels(outcome="timeout").inc()
            raise
        finally:
            await self._flush_captured()
        MODBUS_POLL_LATENCY.observe(time.perf_counter() - start)
        if response.isError():
            self.stats.polls_failed += 1
            MODBUS_POLLS.labels(outcome="exception").inc()
            self._error("exception_response", f"{spec.kind}:{spec.start} -> {response}")
            return
        self.stats.polls_ok += 1
        MODBUS_POLLS.labels(outcome="ok").inc()

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # Called by pymodbus inside the event loop for every chunk on the wire; must not block.
        now = time.time_ns()
        if sending:
            self._captured.append(("request", bytes(data), now))
            return data
        self._rx += data
        adus = split_mbap(bytes(self._rx))
        used = sum(len(a) for a in adus)
        del self._rx[:used]
        self._captured.extend(("response", adu, now) for adu in adus)
        return data

    async def _flush_captured(self) -> None:
        captured, self._captured = self._captured, []
        key = self.source.encode()
        for direction, adu, ts in captured:
            # Only good register-read responses are translated; exceptions have FC | 0x80.
            translate = direction == "response" and len(adu) > 7 and adu[7] in (3, 4)
            headers = frame_headers(
                protocol="modbus",
                source=self.source,
                direction=direction,
                frame_id=self.publisher.next_frame_id(self.source),
                target=self.settings.target if translate else None,
                captured_ns=ts,
                request=self._answered(direction, adu),
            )
            await self.publisher.publish(key, adu, headers)

    def _answered(self, direction: str, adu: bytes) -> tuple[int, int, int] | None:
        """Remember a read request; for a response, the request it answers (by transaction id).

        Requests are captured before their responses, and both are flushed in capture order.
        """
        tid = adu[:2]
        if direction == "request":
            if len(adu) >= 12 and adu[7] in (3, 4):
                if len(self._requests) > 256:  # answers that never came (timeouts)
                    self._requests.clear()
                fc = adu[7]
                self._requests[tid] = (fc, int.from_bytes(adu[8:10]), int.from_bytes(adu[10:12]))
            return None
        request = self._requests.pop(tid, None)
        if request is None or len(adu) < 8 or adu[7] != request[0]:
            return None  # unmatched, or an exception response (FC | 0x80)
        return request


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``stop`` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
