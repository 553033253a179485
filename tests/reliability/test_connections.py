"""Kafka SASL/SSL and Redis password/TLS settings, and secrets that never reach a log.

No TLS or SASL broker runs here, so the Kafka side checks what the clients are given: parsed
settings, the aiokafka keyword arguments, faust's credentials object, and a real TLS context
built from a CA and client certificate made with ``openssl`` in the test. The log test runs a
worker against a Redis that requires a password (in the URL) with a known HMAC key and SASL
password, drives it through start, frames, a refused and an applied command and SIGTERM, and
searches everything it wrote for the secrets.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faust
import httpx
import orjson
import pytest
from pydantic import SecretStr, ValidationError
from redis.asyncio.connection import SSLConnection

from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.errors import SettingsError
from streams.worker.app import broker_credentials
from streams.worker.settings import KafkaSettings
from tests.reliability.harness import RedisProcess, Tally, modbus_frames, terminate
from tests.support.deployment import Deployment
from tests.support.stream import HMAC_KEY, command, produce
from workers.devstack.probes import free_port

pytestmark = pytest.mark.reliability

SASL_PASSWORD = "sasl-Secret-6f1d2c9a"
REDIS_PASSWORD = "redis-Secret-93b7e0f4"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA and a client certificate signed by it (openssl)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=cronos-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=cronos-worker",
    )
    run(
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.pem",
        "-days",
        "1",
    )
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}


def test_sasl_ssl_settings_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    secret = tmp_path / "sasl_password"
    secret.write_text(SASL_PASSWORD + "\n")
    for name, value in {
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": "cronos",
        "SASL_PASSWORD_FILE": str(secret),
        "SSL_CAFILE": str(tls_files["ca"]),
        "SSL_CERTFILE": str(tls_files["cert"]),
        "SSL_KEYFILE": str(tls_files["key"]),
    }.items():
        monkeypatch.setenv(f"CRONOS_KAFKA_{name}", value)
    kafka = KafkaSettings()
    auth = kafka.client_auth()
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("cronos", SASL_PASSWORD)
    context = auth["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(
        c["subject"] == ((("commonName", "cronos-test-ca"),),) for c in context.get_ca_certs()
    )
    creds = broker_credentials(kafka)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.password == SASL_PASSWORD
    assert creds.ssl_context is not None
    assert SASL_PASSWORD not in repr(kafka) and SASL_PASSWORD not in str(kafka.model_dump())


def test_ssl_only_and_plaintext(tls_files: dict[str, Path]) -> None:
    ssl_only = KafkaSettings(security_protocol="SSL", ssl_cafile=tls_files["ca"])
    creds = broker_credentials(ssl_only)
    assert isinstance(creds, faust.SSLCredentials)
    assert ssl_only.client_auth()["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in ssl_only.client_auth()
    plain = KafkaSettings()
    assert plain.client_auth() == {} and broker_credentials(plain) is None
    sasl = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_username="u",
        sasl_password=SecretStr(SASL_PASSWORD),
    )
    assert sasl.client_auth()["ssl_context"] is None
    assert sasl.client_auth()["sasl_plain_password"] == SASL_PASSWORD


@pytest.mark.parametrize(
    "kwargs",
    [
        {"security_protocol": "SASL_SSL"},  # no user
        {"security_protocol": "SSL", "ssl_certfile": Path("/x.pem")},  # cert without key
        {"sasl_password": SecretStr("a"), "sasl_password_file": Path("/p")},
        {"security_protocol": "TLS"},
        {"sasl_mechanism": "GSSAPI"},
    ],
)
def test_bad_kafka_auth_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(**kwargs)  # type: ignore[arg-type]


def test_unreadable_secrets_name_the_file_not_the_content(tmp_path: Path) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(SettingsError):
        kafka.ssl_context()
    sasl = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password_file=tmp_path / "nope"
    )
    with pytest.raises(SettingsError, match="nope"):
        sasl.sasl_secret()


async def test_redis_tls_url_and_password_file(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    secret = tmp_path / "redis_password"
    secret.write_text(REDIS_PASSWORD)
    settings = RedisSettings(
        url=SecretStr("rediss://cache.internal:6380/2"),
        password_file=secret,
        ssl_ca_certs=tls_files["ca"],
    )
    store = VersionStore.from_settings(settings)
    try:
        kwargs = store._redis.connection_pool.connection_kwargs
        assert store._redis.connection_pool.connection_class is SSLConnection
        assert kwargs["password"] == REDIS_PASSWORD and kwargs["db"] == 2
        assert kwargs["ssl_ca_certs"] == str(tls_files["ca"])
    finally:
        await store.aclose()
    assert REDIS_PASSWORD not in repr(settings)
    with_pw = RedisSettings(url=SecretStr(f"rediss://:{REDIS_PASSWORD}@h:6380/0"))
    assert REDIS_PASSWORD not in with_pw.safe_url() and REDIS_PASSWORD not in repr(with_pw)
    with pytest.raises(ValidationError):
        RedisSettings(url=SecretStr("http://h:6379/0"))


@pytest.mark.integration
async def test_secrets_never_reach_the_logs(deployment: Deployment, tmp_path: Path) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    redis = RedisProcess(tmp_path / "redis", password=REDIS_PASSWORD)
    redis.start()
    try:
        dep.env |= {
            "CRONOS_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis.port}/0",
            "CRONOS_KAFKA_SASL_USERNAME": "cronos",
            "CRONOS_KAFKA_SASL_PASSWORD": SASL_PASSWORD,  # set, unused: PLAINTEXT broker
        }
        dep.start("w1")
        async with Tally(broker, dep.topics) as tally:
            await produce(broker, dep.topics["raw"], modbus_frames(5, "sec-"))
            await tally.wait_progress(120, dep.check_alive)
            forged = command("swap", {"version": "1.1.0"}).replace(b'"1.1.0"', b'"9.9.9"')
            good = command("swap", {"version": "1.1.0"})
            await produce(broker, dep.topics["control"], [(None, forged, []), (None, good, [])])
            await produce(broker, dep.topics["raw"], modbus_frames(5, "sec2-"))

            extra = iter(range(10_000))

            async def swapped() -> bool:
                # The swap lands between batches: keep frames coming until one is stamped 1.1.0.
                await produce(broker, dep.topics["raw"], modbus_frames(1, f"sec3-{next(extra)}-"))
                await tally.poll()
                return any(r["detector_version"] == "1.1.0" for r in tally.documents)

            from tests.reliability.harness import until

            await until(swapped, 90, "the signed swap to apply")
        terminate(dep, "w1")
    finally:
        dep.stop_all()
        redis.stop()
    text = (tmp_path / "w1.log").read_bytes()
    assert b"Starting" in text or b"cronos" in text  # the log is really there
    key = ControlSettings(control_hmac_key=SecretStr(HMAC_KEY.decode())).hmac_key()
    for secret in (key, REDIS_PASSWORD.encode(), SASL_PASSWORD.encode()):
        assert secret not in text, f"a secret appears in the worker log: {secret[:6]!r}..."


# ---------------------------------------------------------------- `cronos worker` output

STATUS_TOKEN = "status-Token-5d2a8c71e0b94f36"
# Stands in for any code path that logs a secret by mistake (ours, faust's, aiokafka's): a
# thread in the worker process that, once the CLI has set up logging, keeps logging the
# secrets, with a traceback, and printing them once faust has turned stdout into log records.
# Then the real CLI runs.
LEAKING_CLI = """
import logging, os, sys, threading, time
from pathlib import Path

def leak():
    env = os.environ
    secrets = [env["CRONOS_REDIS_URL"]] + [
        Path(env[name]).read_text().strip()
        for name in (
            "CRONOS_KAFKA_SASL_PASSWORD_FILE",
            "CRONOS_CONTROL_HMAC_KEY_FILE",
            "CRONOS_STATUS_TOKEN_FILE",
        )
    ]
    while not logging.root.handlers:  # from the moment the CLI has set up logging
        time.sleep(0.05)
    while True:
        time.sleep(0.3)
        for name in ("streams.leak", "faust.leak"):
            logging.getLogger(name).warning("leak-probe %s %s %s %s", *secrets)
        try:
            raise RuntimeError("leak-probe failure " + " ".join(secrets))
        except RuntimeError:
            logging.getLogger("aiokafka.leak").exception("leak-probe traceback")
        if sys.stdout is not sys.__stdout__:
            print("leak-probe print", *secrets)

threading.Thread(target=leak, daemon=True).start()
from workers.cli.main import main
main()
"""


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str, dep: Deployment) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        dep.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.integration
def test_cronos_worker_output_masks_secrets_after_faust_sets_up_logging(
    deployment: Deployment, tmp_path: Path
) -> None:
    """``cronos --log-json worker``: secrets (URL, from env, from *_FILE) never in its output.

    Faust's worker replaces the root handlers when it starts; before the fix every record
    after that went to faust's console handler unredacted (and the JSON log file stayed empty).
    """
    dep = deployment
    redis = RedisProcess(tmp_path / "redis", password=REDIS_PASSWORD)
    redis.start()
    files = {"sasl": SASL_PASSWORD, "hmac": HMAC_KEY.decode(), "token": STATUS_TOKEN}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
    port = free_port()
    env = {k: v for k, v in dep.env.items() if k != "CRONOS_CONTROL_HMAC_KEY"} | {
        "CRONOS_WORKER_ID": "w1",
        "CRONOS_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis.port}/0",
        "CRONOS_KAFKA_SASL_USERNAME": "cronos",  # PLAINTEXT broker: set, not used by it
        "CRONOS_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "sasl"),
        "CRONOS_CONTROL_HMAC_KEY_FILE": str(tmp_path / "hmac"),
        "CRONOS_STATUS_TOKEN_FILE": str(tmp_path / "token"),
        "CRONOS_METRICS_PORT": str(port),
    }
    out, err, log_file = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "logs" / "w1.log"
    argv = [sys.executable, "-c", LEAKING_CLI, "--log-json", "--log-file", str(log_file)]
    with out.open("wb") as o, err.open("wb") as e:
        dep.procs["w1"] = subprocess.Popen(
            [*argv, "worker"], env=env, stdout=o, stderr=e, cwd=tmp_path
        )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {STATUS_TOKEN}"}
    try:

        def ready_and_probed() -> bool:  # faust's own handler writes to stderr
            text = out.read_text(errors="replace") + err.read_text(errors="replace")
            return (
                "Worker ready" in text and text.split("Worker ready", 1)[1].count("leak-probe") >= 6
            )

        _wait_for(ready_and_probed, 120, "the worker to be ready and log the probes", dep)

        def detector_ready() -> bool:  # the pointer came from the password-protected Redis
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(detector_ready, 60, "/readyz", dep)
        answers = {
            "metrics": httpx.get(f"{base}/metrics", timeout=5).status_code,
            "status": httpx.get(f"{base}/status.json", timeout=5).status_code,
            "metrics+token": httpx.get(f"{base}/metrics", headers=auth, timeout=5).status_code,
            "healthz": httpx.get(f"{base}/healthz", timeout=5).status_code,
        }
        code, _ = terminate(dep, "w1")
    finally:
        dep.stop_all()
        redis.stop()
    stdout, stderr, logged = out.read_bytes(), err.read_bytes(), log_file.read_bytes()
    for secret in (REDIS_PASSWORD, SASL_PASSWORD, HMAC_KEY.decode(), STATUS_TOKEN):
        for name, text in (("stdout", stdout), ("stderr", stderr), ("log file", logged)):
            assert secret.encode() not in text, f"{secret[:6]}... appears in the worker's {name}"
    assert code == 0, stderr.decode(errors="replace")[-3000:]
    # Our JSON handlers survived faust: stdout and the file are JSON lines through the end.
    lines = [orjson.loads(x) for x in logged.splitlines()]
    msgs = [x["msg"] for x in lines]
    assert any("Worker ready" in m for m in msgs) and any("Stopping" in m for m in msgs)
    probes = [m for m in msgs if m.startswith("leak-probe redis://")]
    masked = f"leak-probe redis://:***@127.0.0.1:{redis.port}/0 *** *** ***"
    assert probes and all(m == masked for m in probes), probes[:3]
    assert any(x.get("exc", "").count("***") >= 3 for x in lines)  # the traceback, redacted
    assert any(m == "***" for m in msgs)  # a secret print()ed alone, as a log record
    assert [orjson.loads(x) for x in stdout.splitlines()]  # stdout: JSON lines only
    assert answers == {"metrics": 401, "status": 401, "metrics+token": 200, "healthz": 200}


def test_cronos_worker_bad_redis_url_is_named_not_shown(tmp_path: Path) -> None:
    """A rejected setting is reported without its value (pydantic would print the URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")} | {
        "CRONOS_REDIS_URL": f"http://:{REDIS_PASSWORD}@127.0.0.1:1/0",
        "CRONOS_CONTROL_HMAC_KEY": HMAC_KEY.decode(),
        "CRONOS_KAFKA_BROKER": "127.0.0.1:1",
        "CRONOS_DATA_DIR": str(tmp_path / "data"),
    }
    argv = [sys.executable, "-c", "from workers.cli.main import main; main()", "worker"]
    done = subprocess.run(argv, env=env, capture_output=True, timeout=120, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert REDIS_PASSWORD.encode() not in output, output.decode(errors="replace")[-2000:]
    assert done.returncode == 2 and b"url must start with redis://" in output
