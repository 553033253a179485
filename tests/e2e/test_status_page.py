"""The worker's status page in headless Chromium: served, filled, rendered, not blank."""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import httpx
import orjson
import pytest

from engine.datasets.synthetic import generate
from tests.support.deployment import Deployment
from tests.support.stream import TopicReader, produce, wait_for
from workers.devstack.probes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, unfiltered rows) of an 8-bit RGB/RGBA PNG, with the stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium missing: `make install` (deps) installs it with apt-get"
    return found


async def test_status_page_renders_in_chromium(deployment: Deployment, tmp_path: Path) -> None:
    dep, t = deployment, deployment.topics
    port = free_port()
    dep.env |= {"CRONOS_METRICS_PORT": str(port), "CRONOS_MONITOR_CHECK_INTERVAL_S": "1"}
    dep.start("w1")
    frames = [
        (b"plc", f.message, [("protocol", b"modbus"), ("frame-id", f"s{i}".encode())])
        for i, f in enumerate(generate("modbus", 30, seed=3))
    ]
    frames.append((b"plc", b"", [("frame-id", b"s-empty")]))
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    await produce(broker, t["raw"], frames)
    base = f"http://127.0.0.1:{port}"
    async with TopicReader(broker, t["results"]) as res, httpx.AsyncClient(timeout=5) as http:
        for _ in range(900):
            dep.check_alive()
            await res.poll(0.2)
            if len(res.records) >= 30:
                break
        else:
            raise AssertionError(dep.log("w1"))

        async def filled() -> dict | None:
            try:
                data = orjson.loads((await http.get(f"{base}/status.json")).content)
            except (httpx.HTTPError, orjson.JSONDecodeError):
                return None
            ok = data["dead_letters"] and any(w["count"] >= 30 for w in data["windows"])
            return data if ok else None

        data = await wait_for(filled, 60, "status.json with windows and dead letters")
        assert data["active"] == {"version": "1.0.0", "pointer": "1.0.0", "known_good": "1.0.0"}
        assert data["dead_letters"][0]["reason"] == "empty_frame"
        assert data["history"][0]["action"] == "bootstrap"
        metrics = (await http.get(f"{base}/metrics")).text
        assert 'cronos_frames_total{outcome="result"}' in metrics
        assert "cronos_detector_confidence_bucket" in metrics
        assert (await http.get(f"{base}/readyz")).status_code == 200
        html = (await http.get(f"{base}/status")).text
        assert "<svg" in html and "empty_frame" in html and "1.0.0" in html

    shot = tmp_path / "status.png"
    cmd = [
        _chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        f"{base}/status",
    ]
    proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, timeout=120)
    assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    assert len(set(rows)) > 20, "screenshot is blank"
    colours = {row[i : i + 3] for row in rows[::10] for i in range(0, len(row), 30)}
    assert len(colours) > 5, "screenshot has almost no colours"
