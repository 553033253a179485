"""Structured logs: JSON lines to stdout and a rotating file, with secrets redacted.

``cronos --log-json …`` (or ``CRONOS_LOG_JSON=1``) turns it on. Each line is one orjson object::

    {"ts": "2026-11-27T10:00:00.123Z", "level": "INFO", "logger": "engine.detection...",
     "msg": "checkpoint saved: ...", "component": "field_detector", "version": "1.2.0"}

``frame_id``, ``component``, ``version`` and ``command_id`` come from
:func:`engine.log_context.log_context` or from ``extra=`` on the call. Redaction runs on every
string that leaves the process: known secret values (read from the environment, from the files
that ``CRONOS_*_FILE`` variables name, and passed in) and ``password=…``/``key=…``-style pairs
and URL passwords are replaced by ``***``.

Redaction happens twice, so that no handler can bypass it: when a record is *made*
(:func:`install_redaction` wraps the log-record factory, which every logger uses whoever owns
the handlers) and again in a filter on each of our handlers. Faust's worker clears the root
handlers and installs its own when it starts; :func:`adopt_root_logging`, called from its
``on_setup_root_logger`` hook, puts our JSON handlers back (``--log-json``) or adds the redacting
filter to faust's handlers.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
_MAX_SECRET_FILE_BYTES = 64 * 1024  # a secret file is a key or a password, not a data set


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
    """Secret values named by the environment.

    * values of secret-named variables (``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ``*KEY``, ...);
    * the contents of the files that ``CRONOS_<secret name>_FILE`` variables name (e.g.
      ``CRONOS_KAFKA_SASL_PASSWORD_FILE``, ``CRONOS_CONTROL_HMAC_KEY_FILE``,
      ``CRONOS_REDIS_PASSWORD_FILE``, ``CRONOS_STATUS_TOKEN_FILE``), whole and stripped as the
      settings read them; the path itself is not secret. An unreadable file is skipped (the
      settings report it, naming the file only);
    * passwords inside URL-valued variables, as written and percent-decoded.
    """
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name, value in env.items():
        if not value:
            continue
        if name.upper().endswith("_FILE"):
            if name.upper().startswith("CRONOS_") and _SECRET_ENV.search(name[: -len("_FILE")]):
                found.extend(_secret_file(value))
            continue
        if _SECRET_ENV.search(name):
            found.extend((value, value.strip()))
    for value in env.values():
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password:
                found.extend((password, unquote(password)))
    return found


def _secret_file(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_SECRET_FILE_BYTES + 1)
    except OSError:
        return []
    if len(raw) > _MAX_SECRET_FILE_BYTES:
        return []
    text = raw.decode("utf-8", errors="replace")
    return [text, text.strip()]


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Replace a record's message (formatted with its args), traceback and stack by redacted text.

    A message whose arguments do not fit its format is kept as ``msg args`` rather than
    raising: the logging call must not fail, and ``Handler.handleError`` would print the raw
    arguments.
    """
    try:
        message = record.getMessage()
    except Exception:
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redactor(message)
    # Empty, not None: mode's formatter (faust's console handler) turns None into (None,) and
    # then fails on "msg % (None,)".
    record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)


class _RedactingFactory:
    """A log-record factory that redacts each record as it is made."""

    def __init__(self, base: Callable[..., logging.LogRecord], redactor: Redactor) -> None:
        self.base = base
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        redact_record(record, self.redactor)
        return record


def install_redaction(redactor: Redactor) -> None:
    """Redact every log record of this process when it is made (replaces an earlier redactor).

    The record factory sits before every handler, so a library that replaces the handlers
    (faust's worker does) cannot bypass it.
    """
    current = logging.getLogRecordFactory()
    base = current.base if isinstance(current, _RedactingFactory) else current
    logging.setLogRecordFactory(_RedactingFactory(base, redactor))


class RedactFilter(logging.Filter):
    """Redacts a record's message and traceback in place (for any handler)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
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


@dataclass(frozen=True)
class _Config:
    json: bool
    verbose: bool
    log_file: Path | None
    secrets: tuple[str, ...]


_configured: _Config | None = None  # the last configure_logging call of this process


def configure_logging(
    *,
    json: bool,
    verbose: bool = False,
    log_file: Path | None = DEFAULT_LOG_FILE,
    secrets: Iterable[str] = (),
) -> list[logging.Handler]:
    """Install the CLI's log handlers on the root logger (replacing earlier ones of ours).

    Also installs the redacting record factory (:func:`install_redaction`), so records that
    reach other handlers are redacted too.

    Args:
        json: JSON lines to stdout and ``log_file``; otherwise rich console output.
        verbose: DEBUG level (else INFO for JSON, WARNING for the console).
        log_file: Rotating JSON log (10 MiB × 5); ``None`` for stdout only.
        secrets: Values to mask besides those found in the environment.
    """
    global _configured
    secrets = tuple(secrets)
    _configured = _Config(json, verbose, log_file, secrets)
    redactor = Redactor([*secrets_from_env(), *secrets])
    install_redaction(redactor)
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


def adopt_root_logging(level: int = 0, secrets: Iterable[str] = ()) -> None:
    """Take the root logger back after a library replaced its handlers (faust's worker).

    With ``--log-json`` our JSON handlers (stdout and the rotating file) replace whatever is on
    the root logger now, at ``level``; otherwise the handlers there (and the level the library
    set) stay and each gets the redacting filter. Either way the redacting record factory is
    (re)installed with the environment's secrets and ``secrets``.

    Args:
        level: Root level for the JSON handlers (faust's ``--loglevel``); 0 keeps ours.
        secrets: Values to mask besides those found in the environment.
    """
    config = _configured
    secrets = (*(config.secrets if config else ()), *secrets)
    root = logging.getLogger()
    if config is not None and config.json:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        configure_logging(
            json=True, verbose=config.verbose, log_file=config.log_file, secrets=secrets
        )
        if level:
            root.setLevel(level)
        return
    redactor = Redactor([*secrets_from_env(), *secrets])
    install_redaction(redactor)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactFilter(redactor))
