"""The PromQL of deploy/: every dashboard query and alert rule, and a real Prometheus to ask.

Used by the live tests (``test_prometheus_live``, ``test_promtool``). The binaries are Debian's
``prometheus`` package (``make deps``); :data:`PROMETHEUS` / :data:`PROMTOOL` are ``None`` when
absent, and the tests skip then.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.paths import REPO_ROOT
from workers.devstack.probes import free_port

DEPLOY = REPO_ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

# An alert's expression ends in its threshold comparison; what it compares is its figure.
_THRESHOLD = re.compile(r"(?s)\s*(.*\S)\s*(==|!=|>=|<=|>|<)\s*([0-9][0-9.eE+-]*)\s*")


@dataclass(frozen=True)
class Query:
    """One PromQL expression of deploy/ and where it comes from (shown when it fails)."""

    where: str
    expr: str


def _exprs(node: Any) -> Iterator[str]:
    """Every ``"expr"`` string in a Grafana JSON document, panels nested in rows included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def dashboard_queries() -> list[Query]:
    """Every query of every Grafana dashboard under deploy/grafana."""
    out = []
    for path in sorted((DEPLOY / "grafana").rglob("*.json")):
        rel = path.relative_to(DEPLOY)
        out += [Query(f"{rel} #{i}", e) for i, e in enumerate(_exprs(json.loads(path.read_text())))]
    return out


def alert_rules() -> dict[str, dict[str, Any]]:
    """The alerting rules of alerts.yml by name."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def split_threshold(expr: str) -> tuple[str, str, float]:
    """``(figure, operator, threshold)`` of an alert expression ``<figure> <op> <number>``.

    Raises:
        ValueError: The expression does not end in a comparison with a number.
    """
    m = _THRESHOLD.fullmatch(expr)
    if m is None:
        raise ValueError(f"no trailing threshold comparison in {expr!r}")
    return m.group(1), m.group(2), float(m.group(3))


def scrape_config(target: str, *, interval_s: int = 1) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml pointed at ``target`` ("host:port") and the repo's rules.

    Only what a test machine lacks is changed: the compose DNS discovery becomes a static
    target, the rule file is the repository's, and scrapes and evaluations run every
    ``interval_s`` seconds; job name, metrics path and the rest stay as shipped.
    """
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"] |= {
        "scrape_interval": f"{interval_s}s",
        "evaluation_interval": f"{interval_s}s",
    }
    config["rule_files"] = [str(ALERTS)]
    (job,) = config["scrape_configs"]
    job.pop("dns_sd_configs")
    job["static_configs"] = [{"targets": [target]}]
    return config


class PrometheusError(AssertionError):
    """Prometheus did not start, or its API answered an error."""


class PrometheusServer:
    """A Prometheus process on a free loopback port with its own data directory.

    Args:
        config: The configuration (written as YAML into ``workdir``).
        workdir: Holds the configuration, the TSDB and the process log.
    """

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        assert PROMETHEUS is not None
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config))
        self._log_path = workdir / "prometheus.log"
        self._log = self._log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def log(self) -> str:
        """The last part of the process's log."""
        return self._log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Wait until ``/-/ready`` answers 200 (fail with the log if the process exits)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus not ready in {timeout_s} s:\n{self.log()}")
            time.sleep(0.2)

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a ``/api/v1/...`` answer; a PromQL or API error raises with its text."""
        resp = self.http.get(f"/api/v1/{path}", params=params)
        body = resp.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series of an instant query (a parse or evaluation error raises)."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return list(data["result"])

    def close(self) -> None:
        """Stop the process and close the client."""
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
