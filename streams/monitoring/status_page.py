"""The worker's HTTP endpoint: ``/metrics`` (Prometheus), ``/status`` (HTML), ``/status.json``,
``/healthz`` (liveness) and ``/readyz`` (ready once a detector is active and the configured
routes' rules are reconciled; otherwise 503 with the reason, e.g. ``no detector: reconcile
failed (artifact_missing)``).

A small aiohttp server (faust depends on aiohttp) on the metrics port, in the worker's event
loop. The page is self-contained — inline SVG charts, no JavaScript, nothing fetched from a CDN
(production networks and our test machines have no internet).

It binds loopback unless told otherwise (``CRONOS_METRICS_HOST``). With a bearer token
(``CRONOS_STATUS_TOKEN`` / ``_FILE``) every route but the probes answers 401 without
``Authorization: Bearer <token>``: ``/healthz`` and ``/readyz`` stay open because kubelet probes
send no credentials, and they tell nothing but "ok" / "ready" or why not ready (a fixed phrase
and a reason code, never a path or an error text).
"""

from __future__ import annotations

import hmac
import html
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.monitoring.thresholds import DETECTOR
from streams.control.command import format_utc
from streams.control.state import VersionStore
from streams.monitoring.recorder import Recorder
from streams.monitoring.windows import MetricWindows
from streams.worker.publisher import HEALTH as publish_health
from streams.worker.registry import ModelRegistry

CHART_WINDOW_S = 900
_WINDOWS = (("1m", 60), ("5m", 300), ("60m", 3600))


class StatusSource:
    """Everything the page shows, read on request."""

    def __init__(
        self,
        worker_id: str,
        registry: ModelRegistry,
        store: VersionStore,
        windows: MetricWindows,
        recorder: Recorder,
    ) -> None:
        self.worker_id = worker_id
        self.registry = registry
        self.store = store
        self.windows = windows
        self.recorder = recorder

    async def snapshot(self) -> dict[str, Any]:
        """The page's data as JSON-ready primitives."""
        active = self.registry.current(DETECTOR)
        ptr = await self.store.get_active(DETECTOR)
        good = await self.store.get_known_good(DETECTOR)
        history = await self.store.get_history(DETECTOR, limit=20)
        known = await self.windows.known(3600)
        figures: list[dict[str, Any]] = []
        for component, version in known:
            for label, secs in _WINDOWS:
                figs = await self.windows.read(component, version, secs)
                figures.append(
                    {"component": component, "version": version, "window": label, **figs.to_dict()}
                )
        charts = []
        for component, version in known:
            series = await self.windows.series(component, version, CHART_WINDOW_S)
            charts.append(
                {
                    "component": component,
                    "version": version,
                    "points": [
                        [t, f.count, f.avg_latency_ms(), f.avg_accuracy()] for t, f in series
                    ],
                }
            )
        return {
            "worker_id": self.worker_id,
            "at": format_utc_now(),
            "active": {
                "version": active.version if active else None,
                "pointer": ptr.version if ptr else None,
                "known_good": good.version if good else None,
            },
            "history": [_entry(asdict(h)) for h in history],
            "windows": figures,
            "charts": charts,
            "dead_letters": [
                {"at": t, "reason": r, "stage": s, "detail": d, "frame_id": f}
                for t, r, s, d, f in reversed(self.recorder.dead_letters)
            ],
        }


def format_utc_now() -> str:
    """Now, as the command timestamps spell it."""
    from datetime import UTC, datetime

    return format_utc(datetime.now(UTC).replace(microsecond=0))


def _entry(raw: dict[str, Any]) -> dict[str, Any]:
    raw["at"] = format_utc(raw["at"])
    return raw


def svg_chart(
    points: list[tuple[float, float]], title: str, width: int = 520, height: int = 140
) -> str:
    """A line chart of ``(x, y)`` points as an inline SVG (empty frame when no points)."""
    pad = 28
    body = [
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff" stroke="#ccc"/>',
        f'<text x="6" y="16" font-size="12" fill="#333">{html.escape(title)}</text>',
    ]
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y1 = max(ys) if max(ys) > 0 else 1.0
        coords = " ".join(
            f"{pad + (x - x0) / (x1 - x0) * (width - 2 * pad):.1f},"
            f"{height - pad + 10 - y / y1 * (height - 2 * pad):.1f}"
            for x, y in points
        )
        body.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{coords}"/>')
        body.append(f'<text x="{width - 90}" y="16" font-size="11" fill="#666">max {y1:.3g}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        + "".join(body)
        + "</svg>"
    )


def render(data: dict[str, Any]) -> str:
    """The HTML page for a :meth:`StatusSource.snapshot`."""
    e = html.escape
    act = data["active"]
    rows = "".join(
        f"<tr><td>{e(w['component'])}</td><td>{e(w['version'])}</td><td>{w['window']}</td>"
        f"<td>{w['count']}</td><td>{_num(w['avg_latency_ms'])}</td><td>{_num(w['success_rate'])}"
        f"</td><td>{_num(w['avg_confidence'])}</td><td>{_num(w['accuracy'])}</td></tr>"
        for w in data["windows"]
    )
    hist = "".join(
        f"<tr><td>{e(h['at'])}</td><td>{e(h['action'])}</td><td>{e(h['from_version'] or '')}</td>"
        f"<td>{e(h['to_version'] or '')}</td><td>{e(h['outcome'])}</td>"
        f"<td>{e(h['reason'] or '')}</td><td>{e(h['issuer'])}</td></tr>"
        for h in data["history"]
    )
    charts = []
    for c in data["charts"]:
        label = f"{c['component']} {c['version']}"
        pts = c["points"]
        charts.append(svg_chart([(p[0], p[1]) for p in pts], f"{label}: frames / bucket"))
        lat = [(p[0], p[2]) for p in pts if p[2] is not None]
        charts.append(svg_chart(lat, f"{label}: avg latency ms"))
        acc = [(p[0], p[3]) for p in pts if p[3] is not None]
        if acc:
            charts.append(svg_chart(acc, f"{label}: validation accuracy"))
    dead = "".join(
        f"<tr><td>{time.strftime('%H:%M:%S', time.gmtime(d['at']))}</td><td>{e(d['reason'])}"
        f"</td><td>{e(d['stage'])}</td><td>{e(d['frame_id'])}</td><td>{e(d['detail'])}</td></tr>"
        for d in data["dead_letters"]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>CRONOS worker</title>
<style>body{{font-family:sans-serif;margin:16px;background:#f4f6f8;color:#222}}
table{{border-collapse:collapse;margin-bottom:14px;background:#fff}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} h1{{color:#0b3d91}}
.v{{font-size:22px;font-weight:bold;color:#2a7d2a}} svg{{margin:4px}}</style></head><body>
<h1>CRONOS worker {e(data["worker_id"])}</h1><p>{e(data["at"])}</p>
<p>field_detector active: <span class="v" id="active">{e(act["version"] or "-")}</span>
 · pointer {e(act["pointer"] or "-")} · known good {e(act["known_good"] or "-")}</p>
<h2>Windows</h2><table><tr><th>component</th><th>version</th><th>window</th><th>frames</th>
<th>avg latency ms</th><th>success</th><th>confidence</th><th>accuracy</th></tr>{rows}</table>
<h2>Charts (last {CHART_WINDOW_S // 60} min)</h2><div>{"".join(charts)}</div>
<h2>History</h2><table><tr><th>at</th><th>action</th><th>from</th><th>to</th><th>outcome</th>
<th>reason</th><th>issuer</th></tr>{hist}</table>
<h2>Recent dead letters</h2><table><tr><th>at</th><th>reason</th><th>stage</th><th>frame</th>
<th>detail</th></tr>{dead}</table></body></html>"""


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


PROBE_PATHS = frozenset({"/healthz", "/readyz"})  # open even when a token is set


def bearer_auth(token: str) -> Middleware:
    """Middleware: 401 unless ``Authorization: Bearer <token>`` (probes excepted).

    The comparison is constant-time (:func:`hmac.compare_digest` on bytes).
    """
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource  # None when no route matched (404)
        if resource is not None and resource.canonical in PROBE_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return web.Response(
                status=401,
                text="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="cronos-worker"'},
            )
        return await handler(request)

    return middleware


def build_app(source: StatusSource, token: str | None = None) -> web.Application:
    """The aiohttp application with every route; ``token`` guards all but the probes."""

    async def metrics_handler(_: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(await source.snapshot())

    async def status_html(_: web.Request) -> web.Response:
        return web.Response(text=render(await source.snapshot()), content_type="text/html")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        waiting = source.registry.readiness.reason()
        if waiting is not None:  # no detector yet, or the routes' rules not reconciled yet
            return web.Response(text=waiting, status=503)
        stalled = publish_health.stalled_for()
        if stalled > 0:  # the broker stopped acknowledging: nothing is committed meanwhile
            return web.Response(text=f"publish stalled for {stalled:.0f} s", status=503)
        return web.Response(text="ready")

    app = web.Application(middlewares=[bearer_auth(token)] if token else [])
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/status", status_html)
    app.router.add_get("/", status_html)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(
    source: StatusSource, port: int, host: str = "127.0.0.1", token: str | None = None
) -> web.AppRunner:
    """Start the server on ``host:port``; returns the runner (``await runner.cleanup()`` stops it).

    Args:
        host: Bind address; loopback by default, ``0.0.0.0`` for every interface.
        token: Bearer token required by every route but ``/healthz`` and ``/readyz``.
    """
    runner = web.AppRunner(build_app(source, token), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
