"""UnifiedLLMService against a local OpenAI-compatible chat-completions server.

The server below is started in the test on 127.0.0.1 with an ephemeral port and speaks the
chat-completions wire format (POST /v1/chat/completions → {"choices": [{"message": ...}]}).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.core.config import Config, LLMSettings
from engine.llm.errors import LLMProviderError, LLMResponseError
from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.llm.unified_llm_service import UnifiedLLMService, parse_proposal
from engine.translation.rules import ConstantRule
from engine.translation.spec import FieldType

from .conftest import spec

SOURCE = spec(
    "modbus",
    "modbus",
    ("function_code", FieldType.INTEGER, 1),
    ("address", FieldType.INTEGER, 2),
    ("data", FieldType.BINARY, None),
)
TARGET = spec(
    "mqtt",
    "mqtt",
    ("message_type", FieldType.INTEGER, 1),
    ("topic", FieldType.STRING, 256),
    ("payload", FieldType.BINARY, None),
)
GOOD = {
    "rules": [
        {"target": "message_type", "kind": "constant", "value": 1},
        {"target": "topic", "kind": "template", "template": "plant/{address}"},
        {"target": "payload", "kind": "copy", "source": "data"},
    ]
}


class ChatCompletionsServer:
    """Minimal OpenAI-compatible chat-completions server (wire format only, canned answer)."""

    def __init__(self) -> None:
        self.answer = ""
        self.status = 200
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        **json.loads(body),
                    }
                )
                reply = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": outer.answer},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatCompletionsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ChatCompletionsServer]:
    with ChatCompletionsServer() as srv:
        yield srv


def _config(base_url: str) -> Config:
    return Config(
        llm=LLMSettings(provider="openai", base_url=base_url, model="tiny", api_key="k3y")
    )


async def test_accepted_proposal_from_chat_completions_server(
    server: ChatCompletionsServer,
) -> None:
    server.answer = "Here you go:\n```json\n" + json.dumps(GOOD) + "\n```"
    config = _config(server.base_url)
    studio = ProtocolTranslationStudio(config, UnifiedLLMService(config))
    rules = await studio.generate_translation_rules(SOURCE, TARGET)
    assert studio.last_llm_outcome == "accepted"
    assert rules.generator == "llm:tiny"
    assert rules.rules[0] == ConstantRule(target="message_type", value=1)
    assert await studio.translate_protocol("modbus", "mqtt", b"\x03\x00\x07\xaa") == (
        b"\x01\x00\x07plant/7\xaa"
    )
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "tiny" and request["temperature"] == 0.0
    assert request["auth"] == "Bearer k3y"
    assert request["messages"][0]["role"] == "system"


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps({"rules": [{"target": "nope", "kind": "constant", "value": 1}]}),
        json.dumps(
            {"rules": [{"target": "topic", "kind": "template", "template": "{x.__class__}"}]}
        ),
        "I cannot help with that.",
    ],
)
async def test_bad_proposal_is_rejected_and_deterministic_rules_kept(
    server: ChatCompletionsServer, answer: str
) -> None:
    server.answer = answer
    config = _config(server.base_url)
    studio = ProtocolTranslationStudio(config, UnifiedLLMService(config))
    rules = await studio.generate_translation_rules(SOURCE, TARGET)
    assert rules.generator == "deterministic"
    assert studio.last_llm_outcome is not None
    assert studio.last_llm_outcome.startswith("rejected")


async def test_http_error_is_provider_error(server: ChatCompletionsServer) -> None:
    server.status = 500
    service = UnifiedLLMService(_config(server.base_url))
    with pytest.raises(LLMProviderError, match="HTTP 500"):
        await service.propose_rules(SOURCE, TARGET)


async def test_provider_none_is_offline() -> None:
    service = UnifiedLLMService(Config())
    assert service.available is False
    with pytest.raises(LLMProviderError):
        await service.complete([{"role": "user", "content": "hi"}])


def test_parse_proposal_rejects_extra_keys() -> None:
    with pytest.raises(LLMResponseError):
        parse_proposal(json.dumps({"rules": [], "note": "x"}))
    assert len(parse_proposal(json.dumps(GOOD))) == 3
