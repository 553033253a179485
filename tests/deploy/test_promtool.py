"""deploy/prometheus checked by promtool: config and rules valid, and each alert's unit tests.

``alerts_test.yml`` must hold, for every alert of ``alerts.yml``, a case where it fires and one
where it stays silent; that is checked here without promtool, the rest needs Debian's
``prometheus`` package (``make deps``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import (
    ALERTS,
    ALERTS_TEST,
    DEPLOY,
    PROMETHEUS_YML,
    PROMTOOL,
    alert_rules,
)

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="no promtool binary (make deps installs Debian's prometheus)"
)


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args}:\n{proc.stdout}\n{proc.stderr}"


@needs_promtool
def test_check_rules() -> None:
    _ok(_promtool("check", "rules", ALERTS))


@needs_promtool
def test_check_config_with_the_compose_mounts(tmp_path: Path) -> None:
    """The shipped config, with its rule file at the path compose mounts alerts.yml on."""
    _ok(_promtool("check", "config", "--syntax-only", PROMETHEUS_YML))
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = {}
    for volume in compose["services"]["prometheus"]["volumes"]:
        host, container = volume.split(":")[:2]
        mounts[container] = (DEPLOY / host).resolve()
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["rule_files"] = [str(mounts[path]) for path in config["rule_files"]]
    assert config["rule_files"] == [str(ALERTS.resolve())]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    _ok(_promtool("check", "config", checked))


@needs_promtool
def test_alert_unit_tests() -> None:
    _ok(_promtool("test", "rules", ALERTS_TEST))


def _cases() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS_TEST.read_text())
    assert doc["rule_files"] == [ALERTS.name]
    return [case for test in doc["tests"] for case in test.get("alert_rule_test", [])]


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    alerts, cases = set(alert_rules()), _cases()
    fires = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert {c["alertname"] for c in cases} <= alerts  # no test of an alert that is gone
    assert alerts - fires == set(), "alerts without a test in which they fire"
    assert alerts - silent == set(), "alerts without a test in which they stay silent"
