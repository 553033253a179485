"""A simulated Modbus/TCP device (pymodbus server) for ``make run``, tests and benchmarks.

Each unit has holding and input registers 0..``size``-1. Register ``i`` of unit ``u`` holds
``u * 1000 + i`` (input registers: ``+ 500``) plus, when ``changing`` is on, the number of reads
that unit has served so far: every poll sees new values, and the first register of a response
tells which read it was (the benchmark matches device reads to MQTT messages with it).

:func:`sim_tag_map` names those registers (a counter, a temperature, an energy meter, status
bits …) so ``make run`` publishes named, typed, scaled values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from engine.translation.tags import Tag, TagBlock, TagMap, TagOutput

log = logging.getLogger(__name__)

#: ``on_read(unit, function_code, address, registers)``, called as the device answers a read.
ReadHook = Callable[[int, int, int, list[int]], None]


def register_value(unit: int, function_code: int, address: int, reads: int = 0) -> int:
    """The value register ``address`` of ``unit`` holds after ``reads`` reads of that unit."""
    base = unit * 1000 + (500 if function_code == 4 else 0)
    return (base + address + reads) & 0xFFFF


def sim_tag_map(output: TagOutput | None = None) -> TagMap:
    """The simulated device's register map: holding registers 0..8 and input registers 0..3.

    Blocks polled from register 0 are named ``process`` (holding) and ``inputs`` (input).
    """
    status_bits = {"running": 0, "alarm": 1, "remote": 2}
    return TagMap(
        tags=[
            Tag(name="counter", address=0),
            Tag(name="temperature", address=1, type="i16", scale=0.01, unit="degC"),
            Tag(name="energy", address=2, type="u32", unit="Wh"),
            Tag(name="status", address=4, type="bits", bit_names=status_bits),
            Tag(name="pump_on", address=5, type="bool", bit=0),
            Tag(name="setpoint", address=6, type="u16", scale=0.1, unit="kPa"),
            Tag(name="flow", address=7, type="i32", word_order="little", scale=0.001, unit="m3/h"),
            Tag(name="pressure", function_code=4, address=0, scale=0.01, unit="bar"),
            Tag(name="humidity", function_code=4, address=1, scale=0.01, unit="%"),
            Tag(name="runtime", function_code=4, address=2, type="u32", unit="s"),
        ],
        blocks=[
            TagBlock(name="process", start=0),
            TagBlock(name="inputs", function_code=4, start=0),
        ],
        output=output or TagOutput(),
    )


@dataclass
class _Unit:
    unit: int
    changing: bool
    on_read: ReadHook | None
    reads: int = 0

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        if set_values is not None or function_code not in (3, 4):
            return None
        if self.changing:
            self.reads += 1
            for j in range(count):  # only the requested block: pymodbus hands us all of it
                pos = address - start_address + j
                current_registers[pos] = register_value(
                    self.unit, function_code, address + j, self.reads
                )
        if self.on_read is not None:
            offset = address - start_address
            self.on_read(self.unit, function_code, address, current_registers[offset:][:count])
        return None


def sim_devices(
    units: Sequence[int] = (1,),
    size: int = 100,
    *,
    changing: bool = True,
    on_read: ReadHook | None = None,
) -> list[SimDevice]:
    """pymodbus ``SimDevice``s for ``units`` (see the module docstring for the values)."""
    devices = []
    for unit in units:
        state = _Unit(unit, changing, on_read)

        def block(fc: int, unit: int = unit) -> list[SimData]:
            values = [register_value(unit, fc, i) for i in range(size)]
            return [SimData(0, values=values, datatype=DataType.REGISTERS)]

        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        simdata = (bits, bits, block(3), block(4))
        devices.append(SimDevice(unit, simdata=simdata, action=state.action))
    return devices


@dataclass
class ModbusSimulator:
    """A pymodbus TCP server on ``host:port`` serving :func:`sim_devices` (port 0: pick one).

    Use ``await sim.start()`` / ``await sim.stop()`` or ``async with``; ``stop`` closes every
    client connection, which is what a device that goes away looks like to the ingest.
    """

    host: str = "127.0.0.1"
    port: int = 5020
    units: Sequence[int] = (1,)
    changing: bool = True
    on_read: ReadHook | None = None
    _server: ModbusTcpServer | None = field(default=None, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self) -> int:
        """Listen and return the port (useful with port 0)."""
        if self.port == 0:
            from workers.devstack.probes import free_port

            self.port = free_port(self.host)
        devices = sim_devices(self.units, changing=self.changing, on_read=self.on_read)
        self._server = ModbusTcpServer(devices, address=(self.host, self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return self.port
            await asyncio.sleep(0.02)
        raise RuntimeError(f"modbus simulator did not listen on {self.host}:{self.port}")

    async def stop(self) -> None:
        """Close the listener and every connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def __aenter__(self) -> ModbusSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
