"""Control commands: signing, verification and every rejection reason (no sockets)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from streams.control.command import (
    ControlCommand,
    canonical_json,
    compute_signature,
    encode,
    new_command,
    sign,
    verify,
)
from streams.control.settings import ControlSettings, RedisSettings, redact_url
from streams.errors import CommandRejectedError, SettingsError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def _wire(**overrides: Any) -> dict[str, Any]:
    """A valid unsigned command as a dict, with top-level overrides."""
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "issued_at": "2026-11-27T10:00:00Z",
        "issuer": "ops@host",
        "action": "swap",
        "component": "field_detector",
        "target": {"version": "1.0.0"},
    }
    data.update(overrides)
    return data


def _signed(key: bytes = KEY, **overrides: Any) -> bytes:
    data = _wire(**overrides)
    data["signature"] = compute_signature(data, key)
    return orjson.dumps(data)


def _reason(raw: bytes, **kwargs: Any) -> str:
    with pytest.raises(CommandRejectedError) as info:
        verify(raw, kwargs.pop("key", KEY), now=kwargs.pop("now", NOW), **kwargs)
    assert info.value.detail  # every refusal says why, for the events topic
    return info.value.reason


def test_new_command_round_trips() -> None:
    cmd, raw = new_command("swap", "field_detector", {"version": "1.2.3"}, "ops@host", KEY)
    got = verify(raw, KEY, now=cmd.issued_at + timedelta(seconds=5))
    assert got == cmd
    assert got.target.version == "1.2.3"
    assert got.signature is not None and len(got.signature) == 64


def test_rules_command_with_pair_and_figures() -> None:
    target: dict[str, Any] = {"version": "2.0.0-rc.1", "pair": "modbus->mqtt"}
    target |= {"min_accuracy": 0.95, "figures": {"accuracy": 0.97}}
    cmd, raw = new_command("promote", "translation_rules", target, "ci@build", KEY, now=NOW)
    assert verify(raw, KEY, now=NOW) == cmd
    assert cmd.target.figures == {"accuracy": 0.97}
    assert b'"issued_at":"2026-11-27T10:00:00Z"' in raw


def test_canonical_json_is_stable_and_excludes_signature() -> None:
    data = _wire(target={"version": "1.0.0", "steps": 2})
    shuffled = dict(reversed(list(data.items())))
    shuffled["target"] = {"steps": 2, "version": "1.0.0"}
    assert canonical_json(data) == canonical_json(shuffled)
    assert canonical_json(data | {"signature": "ab" * 32}) == canonical_json(data)
    text = canonical_json(data)
    assert b" " not in text.replace(b"ops@host", b"")
    assert text.index(b'"action"') < text.index(b'"component"') < text.index(b'"id"')
    cmd = ControlCommand.model_validate(data)
    assert canonical_json(cmd) == canonical_json(data)


def test_sign_replaces_signature_and_encode_verifies() -> None:
    cmd = ControlCommand.model_validate(_wire())
    signed = sign(cmd, KEY)
    resigned = sign(signed, OTHER_KEY)
    assert resigned.signature != signed.signature
    assert verify(encode(signed), KEY, now=NOW) == signed
    assert _reason(encode(resigned)) == "bad_signature"


def test_uppercase_signature_accepted() -> None:
    data = _wire()
    data["signature"] = compute_signature(data, KEY).upper()
    assert verify(orjson.dumps(data), KEY, now=NOW).signature == data["signature"].lower()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"", "malformed"),
        (b"x" * 20_000, "oversized"),
    ],
)
def test_rejects_bad_bytes(raw: bytes, reason: str) -> None:
    assert _reason(raw) == reason


def test_oversized_checked_before_parsing() -> None:
    raw = _signed(issuer="x" * 150)
    assert _reason(raw, max_bytes=len(raw) - 1) == "oversized"
    assert verify(raw, KEY, now=NOW, max_bytes=len(raw))


def test_unsigned() -> None:
    assert _reason(orjson.dumps(_wire())) == "unsigned"
    assert _reason(orjson.dumps(_wire(signature=""))) == "unsigned"
    assert _reason(orjson.dumps(_wire(signature=None))) == "unsigned"


@pytest.mark.parametrize("signature", ["zz" * 32, "ab" * 31, 12, ["ab"], "é" * 64])
def test_garbled_signature(signature: Any) -> None:
    assert _reason(orjson.dumps(_wire(signature=signature))) == "bad_signature"


def test_wrong_key_and_tampering() -> None:
    assert _reason(_signed(key=OTHER_KEY)) == "bad_signature"
    data = orjson.loads(_signed())
    data["target"]["version"] = "6.6.6"
    assert _reason(orjson.dumps(data)) == "bad_signature"
    data = orjson.loads(_signed())
    data["extra"] = 1  # an added key is covered by the signature too
    assert _reason(orjson.dumps(data)) == "bad_signature"


def test_mac_checked_before_schema() -> None:
    # An unauthenticated sender learns nothing about the schema from the reason.
    data = _wire(action="explode", signature="00" * 32)
    assert _reason(orjson.dumps(data)) == "bad_signature"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"action": "explode"}, "unknown_action"),
        ({"action": None}, "unknown_action"),
        ({"component": "kernel"}, "unknown_component"),
        ({"target": {"version": "../../x"}}, "bad_version"),
        ({"target": {"version": "1.0"}}, "bad_version"),
        ({"target": {"version": "1.0.0/../../etc"}}, "bad_version"),
        ({"target": {"version": "v1.0.0"}}, "bad_version"),
        ({"target": {"version": "1.0.0-rc_1"}}, "bad_version"),
        (
            {"component": "translation_rules", "target": {"version": "1.0.0", "pair": "../x"}},
            "bad_pair",
        ),
        (
            {"component": "translation_rules", "target": {"version": "1.0.0", "pair": "A->b"}},
            "bad_pair",
        ),
        ({"component": "translation_rules"}, "malformed"),  # no pair for rules
        ({"target": {"version": "1.0.0", "pair": "modbus->mqtt"}}, "malformed"),
        ({"target": {}}, "malformed"),  # swap without version
        ({"target": {"version": "1.0.0", "steps": 0}}, "malformed"),
        ({"target": {"version": "1.0.0", "min_f1": 1.5}}, "malformed"),
        ({"target": {"version": "1.0.0", "color": "red"}}, "malformed"),
        ({"extra": True}, "malformed"),
        ({"id": "not-a-uuid"}, "malformed"),
        ({"id": str(uuid.uuid1())}, "malformed"),
        ({"issuer": ""}, "malformed"),
        ({"issued_at": "2026-11-27T10:00:00+00:00"}, "malformed"),
        ({"issued_at": "2026-11-27T10:00:00"}, "malformed"),
        ({"issued_at": 1_700_000_000}, "malformed"),
    ],
)
def test_schema_rejections(overrides: dict[str, Any], reason: str) -> None:
    assert _reason(_signed(**overrides)) == reason


def test_valid_variants_accepted() -> None:
    for action, target in [
        ("rollback", {"steps": 2}),
        ("emergency_rollback", {"reason": "f1 collapsed"}),
        ("reload", {}),
        ("swap", {"version": "10.20.30-beta.2"}),
    ]:
        assert verify(_signed(action=action, target=target), KEY, now=NOW).action == action


def test_freshness_window() -> None:
    raw = _signed()
    assert verify(raw, KEY, now=NOW + timedelta(seconds=300))
    assert _reason(raw, now=NOW + timedelta(seconds=301)) == "stale"
    assert verify(raw, KEY, now=NOW - timedelta(seconds=30))
    assert _reason(raw, now=NOW - timedelta(seconds=31)) == "future"
    assert _reason(raw, now=NOW + timedelta(seconds=11), max_age_s=10) == "stale"
    assert _reason(raw, now=NOW - timedelta(seconds=2), max_future_s=1) == "future"


def test_naive_now_and_short_key_are_caller_faults() -> None:
    with pytest.raises(ValueError):
        verify(_signed(), KEY, now=NOW.replace(tzinfo=None))
    with pytest.raises(SettingsError):
        verify(_signed(), b"short", now=NOW)
    with pytest.raises(SettingsError):
        new_command("reload", "field_detector", {}, "ops", b"")


def test_new_command_refuses_invalid_arguments() -> None:
    with pytest.raises(ValidationError):
        new_command("swap", "field_detector", {"version": "../../x"}, "ops", KEY)


def test_rejection_reason_must_be_known() -> None:
    with pytest.raises(ValueError):
        CommandRejectedError("because")
    err = CommandRejectedError("stale", "old")
    assert (err.reason, err.detail, str(err)) == ("stale", "old", "stale: old")


def test_key_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "hmac.key"
    key_file.write_bytes(b"f" * 40 + b"\n")
    monkeypatch.delenv("CRONOS_CONTROL_HMAC_KEY", raising=False)
    monkeypatch.setenv("CRONOS_CONTROL_HMAC_KEY_FILE", str(key_file))
    settings = ControlSettings()
    assert settings.hmac_key() == b"f" * 40
    _, raw = new_command("reload", "field_detector", {}, "ops", settings.hmac_key(), now=NOW)
    assert verify(raw, b"f" * 40, now=NOW)


def test_key_from_env_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-" + "x" * 40
    monkeypatch.delenv("CRONOS_CONTROL_HMAC_KEY_FILE", raising=False)
    monkeypatch.setenv("CRONOS_CONTROL_HMAC_KEY", secret)
    settings = ControlSettings()
    assert settings.hmac_key() == secret.encode()
    assert secret not in repr(settings) and secret not in str(settings)


def test_key_settings_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRONOS_CONTROL_HMAC_KEY", raising=False)
    monkeypatch.delenv("CRONOS_CONTROL_HMAC_KEY_FILE", raising=False)
    with pytest.raises(SettingsError):
        ControlSettings().hmac_key()  # no key at all
    with pytest.raises(SettingsError):
        ControlSettings(control_hmac_key_file=tmp_path / "absent").hmac_key()
    short = tmp_path / "short"
    short.write_bytes(b"tiny")
    with pytest.raises(SettingsError):
        ControlSettings(control_hmac_key_file=short).hmac_key()
    both = ControlSettings(control_hmac_key=SecretStr("k" * 40), control_hmac_key_file=short)
    with pytest.raises(SettingsError):
        both.hmac_key()
    with pytest.raises(ValidationError):
        ControlSettings(control_replay_ttl_s=60)  # shorter than the freshness window
    with pytest.raises(ValidationError):
        ControlSettings().control_max_age_s = 1  # type: ignore[misc]  # frozen


def test_redis_url_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRONOS_REDIS_URL", "redis://:hunter2@redis:6379/0")
    settings = RedisSettings()
    assert "hunter2" not in repr(settings)
    assert settings.safe_url() == "redis://***@redis:6379/0"
    assert settings.key_prefix == "cronos:"
    assert redact_url("redis://h:1/0?password=pw") == "redis://h:1/0?***"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
