"""The one place the stream touches the Translation Studio.

Each loaded rule set gets a :class:`~engine.llm.translation_studio.ProtocolTranslationStudio`
of its own holding only that set, so a hot swap replaces a whole object (like a detector swap)
and a batch never sees rules change half-way. Everything here is synchronous; callers run it
off the event loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.errors import EngineError, TranslationError
from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation import store
from engine.translation.codecs import codec_for
from engine.translation.errors import RulesFileError
from engine.translation.mqtt import split_packets
from engine.translation.rules import TranslationRules, encode_value
from engine.translation.tags import BlockContext
from engine.translation.validation import score
from streams.errors import StreamsError
from streams.worker.results import (
    H_CAPTURED_AT,
    H_MODBUS_ADDRESS,
    H_MODBUS_COUNT,
    H_MODBUS_FUNCTION,
    Headers,
    Translation,
)


class UntranslatableError(StreamsError):
    """A frame could not be translated; ``reason`` is machine-readable, ``field`` may say where."""

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field = field


@dataclass(frozen=True)
class LoadedRules:
    """One verified rule set, ready to translate.

    Attributes:
        pair: ``src->dst``.
        version: Rules version stamped on results.
        rules: The rule set.
        studio: A studio with exactly this set active.
    """

    pair: str
    version: str
    rules: TranslationRules
    studio: ProtocolTranslationStudio

    @property
    def source(self) -> str:
        """Source protocol."""
        return self.rules.source_protocol

    @property
    def target(self) -> str:
        """Target protocol."""
        return self.rules.target_protocol


def load_rules(
    path: Path,
    expected_sha256: str | None = None,
    *,
    pair: str | None = None,
    version: str | None = None,
) -> LoadedRules:
    """Load and activate a rules file (checksum and schema checked by the store).

    Args:
        path: The rules file.
        expected_sha256: The digest the caller verified; the bytes parsed must hash to it.
        pair: When given, the file's own protocol pair must be this one (``src->dst``).
        version: When given, the file's own version must be this one.

    Raises:
        EngineError: ``RulesFileError`` / ``RulesValidationError`` from the engine, or
            ``RulesFileError`` when the file's pair or version is not the one asked for.
    """
    rules = store.load(path, expected_sha256=expected_sha256)
    own = f"{rules.pair[0]}->{rules.pair[1]}"
    if pair is not None and own != pair:
        raise RulesFileError(f"{path.name} holds rules for {own}, not {pair}")
    if version is not None and rules.version != version:
        raise RulesFileError(f"{path.name} holds rules version {rules.version}, not {version}")
    studio = ProtocolTranslationStudio()
    studio.activate_rules(rules)
    src, dst = rules.pair
    return LoadedRules(f"{src}->{dst}", rules.version, rules, studio)


#: Most example pairs read from a rules validation set (it is held in memory by every worker).
MAX_RULE_EXAMPLES = 10_000


def load_rule_examples(path: Path) -> list[dict[str, bytes]]:
    """Example pairs ``{"source": frame, "expected_target": frame}`` from a JSONL file.

    Each line is ``{"source_hex": "...", "target_hex": "..."}``.

    Raises:
        StreamsError: The file is unreadable, a line is malformed, or it holds more than
            :data:`MAX_RULE_EXAMPLES` pairs (the line number is named).
    """
    out: list[dict[str, bytes]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if len(out) >= MAX_RULE_EXAMPLES:
                    raise StreamsError(f"{path}: more than {MAX_RULE_EXAMPLES} examples")
                try:
                    doc = json.loads(line)
                    pair = bytes.fromhex(doc["source_hex"]), bytes.fromhex(doc["target_hex"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise StreamsError(f"{path}:{n}: not a source_hex/target_hex pair") from exc
                out.append({"source": pair[0], "expected_target": pair[1]})
    except OSError as exc:
        raise StreamsError(f"{path}: unreadable: {exc}") from exc
    return out


def rules_accuracy(loaded: LoadedRules, examples: list[dict[str, bytes]]) -> float:
    """Share of ``examples`` the rules translate exactly (blocking)."""
    return float(score(loaded.rules, examples)["pass_rate"])


def block_context(headers: Headers | None) -> BlockContext | None:
    """The read request a Modbus response answers, from the ingest's headers (else ``None``).

    Raises:
        UntranslatableError: A ``modbus-*`` or ``captured-at`` header is not a decimal number.
    """
    found: dict[str, bytes] = {}
    for key, value in headers or ():
        found[key] = value  # Kafka allows repeats; the last one wins, as in Frame.header
    if H_MODBUS_ADDRESS not in found or H_MODBUS_FUNCTION not in found:
        return None
    try:
        numbers = {
            k: int(found[k].decode("ascii"))
            for k in (H_MODBUS_FUNCTION, H_MODBUS_ADDRESS, H_MODBUS_COUNT, H_CAPTURED_AT)
            if k in found
        }
    except (UnicodeDecodeError, ValueError) as exc:
        raise UntranslatableError(
            "bad_header", f"modbus-*/captured-at header is not a number: {exc}"
        ) from exc
    return BlockContext(
        function_code=numbers[H_MODBUS_FUNCTION],
        start_address=numbers[H_MODBUS_ADDRESS],
        count=numbers.get(H_MODBUS_COUNT),
        captured_ns=numbers.get(H_CAPTURED_AT),
    )


def translate(loaded: LoadedRules, payload: bytes, headers: Headers | None = None) -> Translation:
    """Translate one frame; the result names the rules version and the target field values.

    Args:
        loaded: The rule set.
        payload: The frame.
        headers: The frame's headers: tag maps read the request it answers from them
            (:func:`block_context`); raw rule sets do not need them.

    Raises:
        UntranslatableError: The frame does not parse, a rule fails, or a value does not fit.
    """
    # Raw rule sets never look at the headers, so their frames translate exactly as before.
    context = block_context(headers) if loaded.rules.tag_map is not None else None
    try:
        out = loaded.studio.translate_sync(loaded.source, loaded.target, payload, context)
        fields = _target_fields(loaded, out)
    except TranslationError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        raise UntranslatableError(exc.reason, f"{exc}{where}", exc.field) from exc
    except EngineError as exc:  # any other engine refusal is still this frame's problem
        raise UntranslatableError("error", str(exc)) from exc
    return Translation(loaded.target, loaded.version, out, fields)


def warm_up(loaded: LoadedRules, frames: list[bytes]) -> int:
    """Translate ``frames`` once (untranslatable ones are fine); returns how many worked."""
    ok = 0
    for frame in frames:
        try:
            translate(loaded, frame)
            ok += 1
        except UntranslatableError:
            pass
    return ok


def _target_fields(loaded: LoadedRules, out: bytes) -> dict[str, Any]:
    # Re-parse the output so the result shows what a consumer of the target topic will read.
    codec = codec_for(loaded.rules.target_spec)
    if loaded.rules.tag_map is not None:
        # Named values: each message's topic and its JSON document, as a subscriber reads them.
        messages = [codec.parse(packet) for packet in split_packets(out)]
        return {
            "messages": [
                {"topic": m["topic"], "payload": orjson.loads(m["payload"])} for m in messages
            ]
        }
    values = codec.parse(out)
    return {name: encode_value(value) for name, value in values.items()}
