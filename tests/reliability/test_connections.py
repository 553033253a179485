"""Kafka SASL/SSL and Redis password/TLS settings, and secrets that never reach a log.

No TLS or SASL broker runs here, so the Kafka side checks what the clients are given: parsed
settings, the aiokafka keyword arguments, faust's credentials object, and a real TLS context
built from a CA and client certificate made with ``openssl`` in the test. The log test runs a
worker against a Redis that requires a password (in the URL) with a known HMAC key and SASL
password, drives it through start, frames, a refused and an applied command and SIGTERM, and
searches everything it wrote for the secrets.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import faust
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
