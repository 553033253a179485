"""Settings of monitoring, scheduled validation, automatic rollback and shadow evaluation.

Frozen pydantic-settings with the ``CRONOS_MONITOR_`` prefix, e.g.
``CRONOS_MONITOR_WINDOW_S=300 CRONOS_MONITOR_DETECTOR_MIN_ACCURACY=0.9``. Threshold defaults are
the operations guide's (see :class:`engine.monitoring.thresholds.Thresholds`).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.monitoring.thresholds import Thresholds
from streams.control.command import VERSION_RE


class MonitorSettings(BaseSettings):
    """How a worker watches the versions it runs.

    Attributes:
        enabled: Run the monitor loop (checks and automatic rollback).
        auto_rollback: Issue ``emergency_rollback`` on a sustained breach (else only report).
        check_interval_s: Seconds between checks.
        window_s: Sliding window a check reads.
        min_samples: Fewest frames (or validation frames, for accuracy) a figure needs.
        hysteresis: Consecutive breached checks before acting.
        cooldown_s: After a rollback no worker issues another for this long (Redis lock TTL).
        bucket_s: Width of one Redis metric bucket.
        ttl_s: Lifetime of a bucket (must cover the longest window read, 60 minutes).
        validation_interval_s: Seconds between scheduled validation runs (the guide: hourly).
        detector_max_latency_ms / detector_min_accuracy / translation_min_success_rate /
            translation_max_latency_ms: Thresholds (the guide's figures by default).
        shadow_version: Detector version to evaluate in shadow beside the active one.
        shadow_sample_rate: Share of live frames the shadow candidate also sees.
        shadow_max_confidence_drop: Promote is refused when the candidate's mean confidence is
            lower than the active version's by more than this.
        shadow_max_latency_ratio: ... or its mean latency is higher by more than this factor.
    """

    model_config = SettingsConfigDict(env_prefix="CRONOS_MONITOR_", frozen=True, extra="ignore")

    enabled: bool = True
    auto_rollback: bool = True
    check_interval_s: float = Field(default=10.0, gt=0)
    window_s: float = Field(default=300.0, gt=0, le=3600)
    min_samples: int = Field(default=200, ge=1)
    hysteresis: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=600.0, gt=0)
    bucket_s: int = Field(default=10, ge=1, le=600)
    ttl_s: int = Field(default=2 * 3600, ge=60)
    validation_interval_s: float = Field(default=3600.0, gt=0)
    detector_max_latency_ms: float = Field(default=10.0, gt=0)
    detector_min_accuracy: float = Field(default=0.90, ge=0, le=1)
    translation_min_success_rate: float = Field(default=0.95, ge=0, le=1)
    translation_max_latency_ms: float = Field(default=5.0, gt=0)
    shadow_version: str | None = Field(default=None, pattern=VERSION_RE.pattern)
    shadow_sample_rate: float = Field(default=0.1, gt=0, le=1)
    shadow_max_confidence_drop: float = Field(default=0.02, ge=0, le=1)
    shadow_max_latency_ratio: float = Field(default=1.5, ge=1)

    def thresholds(self) -> Thresholds:
        """The configured thresholds."""
        return Thresholds(
            detector_max_latency_ms=self.detector_max_latency_ms,
            detector_min_accuracy=self.detector_min_accuracy,
            translation_min_success_rate=self.translation_min_success_rate,
            translation_max_latency_ms=self.translation_max_latency_ms,
        )
