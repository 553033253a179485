"""Structured logs: JSON lines on stdout and in a rotating file, context fields, redaction."""

from __future__ import annotations

import io
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.log_context import current_context, log_context
from tests.support.cli import cli
from workers import logging_setup
from workers.logging_setup import (
    JsonFormatter,
    Redactor,
    adopt_root_logging,
    configure_logging,
    install_redaction,
    secrets_from_env,
)

SECRET = "s3cr3t-hunter2"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory, configured = logging.getLogRecordFactory(), logging_setup._configured
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    logging_setup._configured = configured


def _capture(redactor: Redactor) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(redactor))
    logger = logging.getLogger(f"test.lifecycle.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_line_with_context_fields() -> None:
    logger, stream = _capture(Redactor())
    with log_context(component="field_detector", version="1.2.0"), log_context(frame_id="p0-42"):
        logger.info("detected %d fields", 5, extra={"command_id": "c-1"})
    assert current_context() == {}
    line = orjson.loads(stream.getvalue())
    assert line["msg"] == "detected 5 fields" and line["level"] == "INFO"
    assert line["frame_id"] == "p0-42" and line["component"] == "field_detector"
    assert line["version"] == "1.2.0" and line["command_id"] == "c-1"
    assert line["ts"].endswith("Z")
    with pytest.raises(ValueError, match="unknown"), log_context(password="x"):
        pass


def test_secrets_are_redacted() -> None:
    env = {"CRONOS_CONTROL__HMAC_KEY": SECRET, "CRONOS_REDIS_URL": "redis://:pw-in-url-9@h:6379/0"}
    logger, stream = _capture(Redactor(secrets_from_env(env)))
    logger.warning("key is %s", SECRET)
    logger.warning("connecting redis://:pw-in-url-9@h:6379/0 password=letmein api_key: abc123")
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        logger.exception("failed")
    out = stream.getvalue()
    for leaked in (SECRET, "pw-in-url-9", "letmein", "abc123"):
        assert leaked not in out
    assert "password=***" in out and "redis://:***@h" in out and "boom ***" in out


def test_cli_flag_writes_json_to_stdout_and_rotating_file(
    tmp_path: Path, restore_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.artifacts import write_with_sidecar

    monkeypatch.setenv("CRONOS_TEST_PASSWORD", SECRET)
    for v in ("1.0.0", "1.1.0"):
        write_with_sidecar(
            tmp_path / f"field_detector_v{v}_epoch1_f10.9000_20260101_00000{v[2]}.pt", b"x"
        )
    log_file = tmp_path / "logs" / "ml_pipeline.log"
    result = cli(
        "--log-json",
        "--log-file",
        str(log_file),
        "checkpoints",
        "prune",
        "--dir",
        str(tmp_path),
        "--keep",
        "1",
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(x) for x in log_file.read_text().splitlines()]
    pruned = [x for x in lines if x["msg"].startswith("pruned")]
    assert pruned and pruned[0]["version"] == "1.0.0"
    assert '"msg":"pruned' in result.output  # the same line on stdout
    logging.getLogger("engine").warning("env secret %s", SECRET)
    assert SECRET not in log_file.read_text()


def test_rotating_handler_and_console_mode(tmp_path: Path, restore_root: None) -> None:
    handlers = configure_logging(json=True, log_file=tmp_path / "x.log")
    rotating = [h for h in handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert rotating and rotating[0].maxBytes == 10 * 1024 * 1024 and rotating[0].backupCount == 5
    handlers = configure_logging(json=False)
    assert len([h for h in logging.getLogger().handlers if getattr(h, "_cronos", False)]) == 1


def test_secret_files_named_by_cronos_file_variables_are_masked(tmp_path: Path) -> None:
    values = {
        "CRONOS_KAFKA_SASL_PASSWORD_FILE": "sasl-from-file-1",
        "CRONOS_CONTROL_HMAC_KEY_FILE": "hmac-from-file-0123456789abcdef0123",
        "CRONOS_REDIS_PASSWORD_FILE": "redis-from-file-2",
        "CRONOS_STATUS_TOKEN_FILE": "token-from-file-3",
        "CRONOS_LOG_FILE": "not-a-secret-4",  # not a secret name: its file is not read
        "OTHER_PASSWORD_FILE": "not-ours-5",  # not a CRONOS_ variable
    }
    env = {}
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(f"  {value}\n")  # the settings strip, so must the redactor
        env[name] = str(path)
    env["CRONOS_MISSING_TOKEN_FILE"] = str(tmp_path / "absent")  # unreadable: skipped
    env["CRONOS_REDIS_URL"] = "redis://:p%40ss-word@h:6379/0"  # percent-encoded in the URL
    found = secrets_from_env(env)
    for name in list(values)[:4]:
        assert values[name] in found, name
    assert "not-a-secret-4" not in found and "not-ours-5" not in found
    assert str(tmp_path / "cronos_kafka_sasl_password_file") not in found  # a path is no secret
    assert "p@ss-word" in found and "p%40ss-word" in found
    redact = Redactor(found)
    text = redact(
        "sasl-from-file-1 / hmac-from-file-0123456789abcdef0123 / redis-from-file-2 / "
        f"token-from-file-3 / p@ss-word / {tmp_path}"
    )
    assert text == f"*** / *** / *** / *** / *** / {tmp_path}"


def test_record_factory_redacts_for_handlers_that_are_not_ours(restore_root: None) -> None:
    """A handler someone else installs (no filter, plain formatter) still gets redacted text."""
    install_redaction(Redactor([SECRET]))
    install_redaction(Redactor([SECRET, "second-secret"]))  # replaces, does not stack
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "base", None) is not None
    assert not hasattr(factory.base, "base")  # type: ignore[attr-defined]
    stream = io.StringIO()
    foreign = logging.StreamHandler(stream)
    foreign.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.foreign")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(foreign)
    try:
        logger.warning("url redis://:%s@h:1/0 and %s", "in-url-pw", "second-secret")
        try:
            raise RuntimeError(f"boom {SECRET}")
        except RuntimeError:
            logger.exception("failed")
        logger.warning("bad format %d", "x")  # must not raise, nor print the raw args unmasked
        logger.warning("stack", stack_info=True, extra={"x": 1})
    finally:
        logger.removeHandler(foreign)
    out = stream.getvalue()
    assert "in-url-pw" not in out and "second-secret" not in out and SECRET not in out
    assert "url redis://:***@h:1/0 and ***" in out and "boom ***" in out
    assert "bad format %d ('x',)" in out


def test_json_handlers_come_back_after_faust_replaces_them(
    tmp_path: Path, restore_root: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What faust's Worker does at start (mode's setup_logging), then our hook."""
    from mode.utils.logging import setup_logging

    secret_file = tmp_path / "sasl"
    secret_file.write_text("sasl-file-secret-77\n")
    monkeypatch.setenv("CRONOS_KAFKA_SASL_PASSWORD_FILE", str(secret_file))
    log_file = tmp_path / "logs" / "w.log"
    configure_logging(json=True, log_file=log_file)
    setup_logging(loglevel="info", logfile=None)  # clears the root handlers, adds colorlog's
    root = logging.getLogger()
    assert not any(getattr(h, "_cronos", False) for h in root.handlers)
    adopt_root_logging(logging.INFO, secrets=["explicit-secret-88"])
    assert root.handlers and all(getattr(h, "_cronos", False) for h in root.handlers)
    logging.getLogger("faust.test").info("pw sasl-file-secret-77 and explicit-secret-88")
    line = orjson.loads(log_file.read_text().splitlines()[-1])
    assert line["msg"] == "pw *** and ***" and line["logger"] == "faust.test"


def test_console_mode_keeps_the_foreign_handlers_and_filters_them(restore_root: None) -> None:
    from mode.utils.logging import setup_logging

    configure_logging(json=False)
    setup_logging(loglevel="info", logfile=io.StringIO())
    adopt_root_logging(logging.INFO, secrets=[SECRET])
    adopt_root_logging(logging.INFO, secrets=[SECRET])  # idempotent: one filter per handler
    (handler,) = logging.getLogger().handlers
    filters = [f for f in handler.filters if isinstance(f, logging_setup.RedactFilter)]
    assert len(filters) == 1
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("faust.test").warning("key %s at 100%%", SECRET)  # mode's formatter
    assert SECRET not in stream.getvalue() and "key *** at 100%" in stream.getvalue()
