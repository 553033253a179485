"""The default Modbus → MQTT rule set of the edge adapters.

Register reads (function codes 1–4) become one MQTT message per response: the topic names the
unit and the function code, the payload is the register block as the device sent it (big-endian
16-bit registers, or the packed coil bytes). A reader that knows the register map decodes it.

With a register map, :func:`modbus_to_mqtt_tag_rules` publishes named, typed, scaled values
instead (a tag map, :mod:`engine.translation.tags`): JSON per block or one topic per tag.
"""

from __future__ import annotations

from pathlib import Path

from engine.translation import store
from engine.translation.rules import ConstantRule, CopyRule, TemplateRule, TranslationRules
from engine.translation.tag_publish import MODBUS_RESPONSE, MQTT_RAW, tag_rule_set
from engine.translation.tags import TagMap

DEFAULT_TOPIC = "cronos/{unit_id}/fc{function_code}"
RULES_VERSION = "1.0.0"


def modbus_to_mqtt_rules(
    topic_template: str = DEFAULT_TOPIC, version: str = RULES_VERSION
) -> TranslationRules:
    """Rules that publish each read response's register bytes to ``topic_template``.

    Args:
        topic_template: MQTT topic with ``{unit_id}`` / ``{function_code}`` /
            ``{transaction_id}`` placeholders.
        version: Semantic version stamped on results.
    """
    return TranslationRules(
        version=version,
        source_protocol="modbus",
        target_protocol="mqtt",
        source_spec=MODBUS_RESPONSE,
        target_spec=MQTT_RAW,
        rules=[
            TemplateRule(target="topic", template=topic_template),
            CopyRule(target="payload", source="data"),
            ConstantRule(target="qos", value=0),
        ],
        accuracy=1.0,
    )


def modbus_to_mqtt_tag_rules(tag_map: TagMap, version: str = RULES_VERSION) -> TranslationRules:
    """Rules that publish the tags of ``tag_map`` (see :mod:`engine.translation.tag_publish`).

    The worker reads the request each response answers from the ingest's ``modbus-*`` headers.
    """
    return tag_rule_set(tag_map, version)


def save_worker_rules(artifact_root: Path, rules: TranslationRules | None = None) -> Path:
    """Write ``rules`` (default: :func:`modbus_to_mqtt_rules`) where the worker resolves them.

    The engine store's file names are the worker's naming contract, so a ``swap`` command for
    ``modbus->mqtt`` finds and verifies the file as written.
    """
    rules = rules or modbus_to_mqtt_rules()
    return store.save(rules, artifact_root / "translation_rules")
