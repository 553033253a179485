"""``cronos control`` authenticates its Kafka clients as the workers do (SASL/TLS settings).

The embedded broker speaks PLAINTEXT only, so the settings are proven applied by their effect:
the same command that publishes in PLAINTEXT is refused, with a clear message and exit 2,
once the security protocol says SASL or TLS — nothing reaches the control topic then.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from tests.support.stream import ARTIFACT_SHA256, HMAC_KEY, TopicReader

pytestmark = pytest.mark.integration
SASL_PASSWORD = "sasl-Secret-c0ntrol-91ab"
CLI = "from workers.cli.main import main; main()"


async def _control(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """``cronos control ARGS`` in a process of its own (imports resolve through PYTHONPATH)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        "control",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_control_cli_uses_the_kafka_security_settings(
    kafka_bootstrap: str,
    unique_topic: Callable[..., Awaitable[str]],
    tmp_path: Path,
    artifact_root: Path,
) -> None:
    control = await unique_topic(1, "control")
    events = await unique_topic(1, "events")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")} | {
        "COLUMNS": "240",
        "CRONOS_KAFKA_BROKER": kafka_bootstrap,
        "CRONOS_KAFKA_TOPIC_CONTROL": control,
        "CRONOS_KAFKA_TOPIC_CONTROL_EVENTS": events,
        "CRONOS_CONTROL_HMAC_KEY": HMAC_KEY.decode(),
    }
    # The sha256 comes from the artifact's sidecar under CRONOS_ARTIFACT_ROOT.
    local = base | {"CRONOS_ARTIFACT_ROOT": str(artifact_root)}
    code, out = await _control(local, tmp_path, "swap", "1.1.0")
    assert code == 0 and "issued swap" in out, out  # PLAINTEXT: the broker's own protocol
    code, out = await _control(base, tmp_path, "swap", "1.1.0")
    assert code == 2 and "artifact_missing" in out and "--sha256" in out, out

    secret = tmp_path / "sasl"
    secret.write_text(SASL_PASSWORD + "\n")
    sasl = base | {
        "CRONOS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CRONOS_KAFKA_SASL_USERNAME": "cronos",
        "CRONOS_KAFKA_SASL_PASSWORD_FILE": str(secret),
    }
    code, out = await _control(sasl, tmp_path, "swap", "1.1.0", "--sha256", "ab" * 32)
    assert code == 2, out
    assert "not issued" in out and "SASL_PLAINTEXT" in out and kafka_bootstrap in out, out
    assert SASL_PASSWORD not in out and "Traceback" not in out

    tls = base | {
        "CRONOS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "CRONOS_KAFKA_SSL_CAFILE": str(tmp_path / "missing-ca.pem"),
    }
    code, out = await _control(tls, tmp_path, "rollback")
    assert code == 2 and "cannot build the Kafka TLS context" in out, out

    no_user = base | {"CRONOS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    code, out = await _control(no_user, tmp_path, "rollback")
    assert code == 2 and "needs sasl_username" in out and "Traceback" not in out, out

    async with TopicReader(kafka_bootstrap, control) as reader:
        await reader.poll(2.0)
        assert len(reader.records) == 1  # only the PLAINTEXT command was published
    sent = orjson.loads(reader.records[0].value)
    assert sent["target"]["sha256"] == ARTIFACT_SHA256["1.1.0"]
