"""Structured logs: JSON lines to stdout and a rotating file, with secrets redacted.

``cronos --log-json …`` (or ``CRONOS_LOG_JSON=1``) turns it on. Each line is one orjson object::

    {"ts": "2026-11-27T10:00:00.123Z", "level": "INFO", "logger": "engine.detection...",
     "msg": "checkpoint saved: ...", "component": "field_detector", "version": "1.2.0"}

``frame_id``, ``component``, ``version`` and ``command_id`` come from
:func:`engine.log_context.log_context` or from ``extra=`` on the call. Redaction runs on every
string that leaves the process: known secret values (read from the environment and passed in)
and ``password=…``/``key=…``-style pairs and URL passwords are replaced by ``***``.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from rich.logging import RichHandler

from engine.log_context import CONTEXT_FIELDS, current_context

DEFAULT_LOG_FILE = Path("logs/ml_pipeline.log")
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5
MASK = "***"
_SECRET_ENV = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|HMAC|KEY$", re.IGNORECASE)
_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|hmac[_-]?key|key)(\s*[=:]\s*)"
    r"(?!\*\*\*)([^\s&,;'\"]+)"
)
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s]+)@")
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words ("true", "none")


class Redactor:
    """Replaces known secret values and secret-looking pairs in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len)[::-1]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        return _PAIR.sub(rf"\1\2{MASK}", text)


def secrets_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named variables, and passwords inside URL-valued variables."""
    env = os.environ if environ is None else environ
    found = [v for k, v in env.items() if _SECRET_ENV.search(k) and v]
    for value in env.values():
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password:
                found.append(password)
    return found


class RedactFilter(logging.Filter):
    """Redacts a record's message and traceback in place (for any handler)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the log context fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.redactor(record.getMessage()),
        }
        context = current_context()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is not None:
                out[name] = self.redactor(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = self.redactor(record.exc_text)
        return orjson.dumps(out).decode()


def configure_logging(
    *,
    json: bool,
    verbose: bool = False,
    log_file: Path | None = DEFAULT_LOG_FILE,
    secrets: Iterable[str] = (),
) -> list[logging.Handler]:
    """Install the CLI's log handlers on the root logger (replacing earlier ones of ours).

    Args:
        json: JSON lines to stdout and ``log_file``; otherwise rich console output.
        verbose: DEBUG level (else INFO for JSON, WARNING for the console).
        log_file: Rotating JSON log (10 MiB × 5); ``None`` for stdout only.
        secrets: Values to mask besides those found in the environment.
    """
    redactor = Redactor([*secrets_from_env(), *secrets])
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_cronos", False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler]
    if json:
        handlers = [logging.StreamHandler(sys.stdout)]
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_file, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
                )
            )
        for h in handlers:
            h.setFormatter(JsonFormatter(redactor))
        level = logging.DEBUG if verbose else logging.INFO
    else:
        handlers = [RichHandler(show_path=False, rich_tracebacks=False)]
        handlers[0].setFormatter(logging.Formatter("%(message)s"))
        level = logging.DEBUG if verbose else logging.WARNING
    for h in handlers:
        h.addFilter(RedactFilter(redactor))
        h._cronos = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    return handlers
