"""A simulated Modbus/TCP device (pymodbus server) for ``make run``, tests and benchmarks.

Each unit has holding and input registers 0..``size``-1. Register ``i`` of unit ``u`` holds
``u * 1000 + i`` (input registers: ``+ 500``) plus, when ``changing`` is on, the number of reads
that unit has served so far: every poll sees new values, and the first register of a response
tells which read it was (the benchmark matches device reads to MQTT messages with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

log = logging.getLogger(__name__)

#: ``on_read(unit, function_code, address, registers)``, called as the device answers a read.
ReadHook = Callable[[int, int, int, list[int]], None]


def register_value(unit: int, function_code: int, address: int, reads: int = 0) -> int:
    """The value register ``address`` of ``unit`` holds after ``reads`` reads of that unit."""
    base = unit * 1000 + (500 if function_code == 4 else 0)
    return (base + address + reads) & 0xFFFF


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
