"""One entry point from a specification to its codec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from engine.translation.layout import LayoutCodec
from engine.translation.modbus import ModbusTcpCodec
from engine.translation.mqtt import MqttPublishCodec
from engine.translation.spec import Framing, ProtocolSpecification


class Codec(Protocol):
    """Parses frames into field values and builds frames from them.

    Laws: ``parse(build(x)) == x`` for valid values and ``build(parse(b)) == b`` for every frame
    ``parse`` accepts.
    """

    spec: ProtocolSpecification

    def parse(self, data: bytes) -> dict[str, Any]: ...

    def build(self, values: Mapping[str, Any]) -> bytes: ...


# Keyed by the spec's JSON: specs are frozen but hold lists, so they are not hashable.
_CACHE: dict[str, Codec] = {}
_CACHE_MAX = 256


def codec_for(spec: ProtocolSpecification) -> Codec:
    """Return the (cached) codec for ``spec``'s framing.

    Raises:
        SpecError: The specification cannot be laid out.
    """
    key = spec.model_dump_json()
    codec = _CACHE.get(key)
    if codec is None:
        if spec.framing is Framing.MODBUS_TCP:
            codec = ModbusTcpCodec(spec)
        elif spec.framing is Framing.MQTT_PUBLISH:
            codec = MqttPublishCodec(spec)
        else:
            codec = LayoutCodec(spec)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = codec
    return codec
