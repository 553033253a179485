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
from workers.logging_setup import (
    JsonFormatter,
    Redactor,
    configure_logging,
    secrets_from_env,
)

SECRET = "s3cr3t-hunter2"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


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
