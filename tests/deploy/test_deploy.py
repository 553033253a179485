"""deploy/ checked statically (no Docker engine here): YAML/JSON parse and structure.

The Grafana dashboard and the alert rules must query only metric names the workers export,
and the alert thresholds must be the guide's (the defaults of ``Thresholds``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import streams.monitoring.worker_metrics  # noqa: F401  (registers every worker metric)
from engine.monitoring.thresholds import Thresholds
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.status_page import PROBE_PATHS, build_app
from tests.deploy.promql import DEPLOY, alert_rules, split_threshold

METRIC_RE = re.compile(r"\bcronos_[a-z_]+\b")


def _yaml(rel: str) -> Any:
    return yaml.safe_load((DEPLOY / rel).read_text())


def _exported() -> set[str]:
    names = set(REGISTRY._names_to_collectors)  # every series name: _total, _bucket, _sum, ...
    return {n for n in names if n.startswith("cronos_")}


def test_compose_services() -> None:
    compose = _yaml("docker-compose.yml")
    services = compose["services"]
    assert {"kafka", "redis", "worker", "prometheus", "grafana"} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    assert not any("zookeeper" in name for name in services)
    worker = services["worker"]
    assert "replicas" in worker["deploy"]
    assert worker["environment"]["CRONOS_METRICS_PORT"] == "9100"
    assert worker["environment"]["CRONOS_METRICS_HOST"] == "0.0.0.0"  # default is loopback
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    mounts = " ".join(services["grafana"]["volumes"])
    assert "provisioning" in mounts and "dashboards" in mounts


def test_prometheus_scrapes_workers_and_loads_rules() -> None:
    prom = _yaml("prometheus/prometheus.yml")
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["dns_sd_configs"][0]["names"] == ["worker"]
    assert job["dns_sd_configs"][0]["port"] == 9100
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_alert_thresholds_are_the_guides() -> None:
    t, rules = Thresholds(), alert_rules()

    def limit(name: str) -> float:
        return split_threshold(rules[name]["expr"])[2]

    assert limit("CronosDetectorLatencyHigh") == t.detector_max_latency_ms / 1000
    assert limit("CronosDetectorAccuracyLow") == t.detector_min_accuracy
    assert limit("CronosTranslationSuccessLow") == t.translation_min_success_rate
    assert limit("CronosTranslationLatencyHigh") == t.translation_max_latency_ms / 1000
    defaults = MonitorSettings()
    assert defaults.thresholds() == t


@pytest.mark.parametrize("source", ["grafana/dashboards/cronos.json", "prometheus/alerts.yml"])
def test_queries_use_exported_metric_names(source: str) -> None:
    used = set(METRIC_RE.findall((DEPLOY / source).read_text()))
    assert used, source
    assert used <= _exported(), used - _exported()


def test_dashboard_covers_the_architecture_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana/dashboards/cronos.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for name in (
        "cronos_frames_total",
        "cronos_detection_latency_seconds_bucket",
        "cronos_translation_latency_seconds_bucket",
        "cronos_active_version_info",
        "cronos_model_swaps_total",
        "cronos_dead_letters_total",
        "cronos_consumer_lag",
        "cronos_batch_frames",
        "cronos_detector_confidence_bucket",
        "cronos_validation_pass_rate",
    ):
        assert name in exprs, name
    uids = {p["datasource"]["uid"] for p in dash["panels"]}
    ds = _yaml("grafana/provisioning/datasources/datasource.yml")["datasources"]
    assert uids == {ds[0]["uid"]}
    prov = _yaml("grafana/provisioning/dashboards/dashboards.yml")["providers"][0]
    assert prov["options"]["path"] == "/var/lib/grafana/dashboards"


def test_kubernetes_manifests() -> None:
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    assert {"Deployment", "Service", "ConfigMap", "PodMonitor", "Kustomization"} <= set(docs)
    pod = docs["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    routes = {r.resource.canonical for r in build_app(None).router.routes()}  # type: ignore[arg-type]
    assert container["livenessProbe"]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] in routes
    # The probes send no token: they must be the routes a status token leaves open.
    assert container["livenessProbe"]["httpGet"]["path"] in PROBE_PATHS
    assert container["readinessProbe"]["httpGet"]["path"] in PROBE_PATHS
    assert container["ports"][0]["containerPort"] == 9100
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    refs = [e["valueFrom"] for e in container["env"] if "valueFrom" in e]
    assert any("secretKeyRef" in r for r in refs)
    assert container["envFrom"][0]["configMapRef"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    cfg = docs["ConfigMap"]["data"]
    assert cfg["CRONOS_METRICS_HOST"] == "0.0.0.0"  # probes and Prometheus come from outside
    t = Thresholds()
    assert float(cfg["CRONOS_MONITOR_DETECTOR_MIN_ACCURACY"]) == t.detector_min_accuracy
    assert float(cfg["CRONOS_MONITOR_TRANSLATION_MAX_LATENCY_MS"]) == t.translation_max_latency_ms
    assert docs["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    kust = docs["Kustomization"]["resources"]
    assert all((DEPLOY / "k8s" / r).exists() for r in kust)


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["cronos", "worker"]' in text
    assert "EXPOSE 9100" in text and "/healthz" in text and "USER cronos" in text
    assert "CRONOS_METRICS_HOST=0.0.0.0" in text  # an exposed port must not be bound to loopback
