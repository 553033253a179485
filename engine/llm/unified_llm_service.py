"""Optional LLM step of the Translation Studio, behind one interface.

``provider = "none"`` (the default) keeps everything offline: :attr:`UnifiedLLMService.available`
is False and the studio uses its deterministic generator only. ``provider = "openai"`` talks to any
OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp server) at ``Config.llm``'s
``base_url``. The model's answer is parsed into the rule schema with pydantic; the studio then
validates the proposal like any other rule set before it may be used.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from engine.core.config import Config
from engine.llm.errors import LLMProviderError, LLMResponseError
from engine.translation.rules import Rule
from engine.translation.spec import ProtocolSpecification

_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)
_SYSTEM = (
    "You write protocol translation rules. Answer with one JSON object "
    '{"rules": [...]} and nothing else. Each rule has "target" and "kind", one of: '
    "copy(source), constant(value), linear(source, scale, offset, integer), bit(source, bit), "
    "map(source, mapping=[[from, to], ...]), decode(source, offset, dtype, layout, scale, "
    "value_offset, bit), template(template with {field} placeholders). Bytes values are "
    '{"hex": "..."}.'
)


class RuleProposal(BaseModel):
    """What the model must answer: a list of rules in the studio's schema."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


class UnifiedLLMService:
    """Chat-completions client configured by ``Config.llm``.

    Args:
        config: Engine configuration; ``Config()`` when omitted.
        transport: Optional httpx transport (tests may inject one).
    """

    def __init__(
        self, config: Config | None = None, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = (config or Config()).llm
        self._transport = transport

    @property
    def provider(self) -> str:
        """``none`` or ``openai``."""
        return self.settings.provider

    @property
    def available(self) -> bool:
        """Whether an LLM provider is configured."""
        return self.settings.provider != "none"

    async def complete(self, messages: list[dict[str, str]]) -> str:
        """Send one chat-completions request and return the assistant message text.

        Raises:
            LLMProviderError: Provider ``none``, transport failure or HTTP error status.
            LLMResponseError: The response is not chat-completions shaped.
        """
        if not self.available:
            raise LLMProviderError("no LLM provider configured (Config.llm.provider = 'none')")
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        body = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "stream": False,
        }
        url = self.settings.base_url.rstrip("/") + "/chat/completions"
        try:
            async with httpx.AsyncClient(
                timeout=self.settings.timeout_seconds, transport=self._transport
            ) as client:
                response = await client.post(url, content=orjson.dumps(body), headers=headers)
        except httpx.HTTPError as exc:
            raise LLMProviderError(f"chat-completions request to {url} failed: {exc}") from exc
        if response.status_code != 200:
            raise LLMProviderError(
                f"chat-completions server answered HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMResponseError(f"not a chat-completions response: {exc}") from exc
        if not isinstance(content, str):
            raise LLMResponseError("chat-completions message content is not text")
        return content

    async def propose_rules(
        self,
        source_spec: ProtocolSpecification,
        target_spec: ProtocolSpecification,
        examples: list[dict[str, Any]] | None = None,
    ) -> list[Any]:
        """Ask the model for a rule set and parse it into the rule schema.

        Raises:
            LLMProviderError: See :meth:`complete`.
            LLMResponseError: The answer holds no JSON object or does not fit the schema.
        """
        prompt = {
            "source_spec": source_spec.model_dump(mode="json"),
            "target_spec": target_spec.model_dump(mode="json"),
            "examples": [_jsonable(e) for e in (examples or [])[:10]],
        }
        content = await self.complete(
            [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": orjson.dumps(prompt).decode()},
            ]
        )
        return parse_proposal(content)


def parse_proposal(content: str) -> list[Any]:
    """Extract ``{"rules": [...]}`` from model output (code fences tolerated) and validate it.

    Raises:
        LLMResponseError: No JSON object, bad JSON, or rules outside the schema.
    """
    match = _JSON_BLOCK.search(content)
    if match is None:
        raise LLMResponseError("model answer holds no JSON object")
    try:
        return list(RuleProposal.model_validate_json(match.group(0)).rules)
    except ValidationError as exc:
        raise LLMResponseError(f"model answer is not a rule set: {exc.errors()[0]['msg']}") from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"hex": bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
