"""LLModel prompt filling, the scripted provider, and the OpenAI-compatible client.

The OpenAI-compatible client is tested against a local aiohttp server speaking the
chat-completions wire format (JSON answers and `stream: true` server-sent events). The server
runs on its own thread and loop, so blocking (urllib) and asyncio clients can both call it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from streamgraph.errors import GraphError, StreamingError
from streamgraph.serving.artifacts import LLMPromptArtifact, ModelArtifact
from streamgraph.serving.llm import USAGE_FIELDS, LLModel, fill_template
from streamgraph.serving.mechanisms import make_runnable
from streamgraph.serving.providers import (
    ModelProvider,
    OpenAIProvider,
    ProviderError,
    ScriptedProvider,
    Usage,
    get_provider,
    register_provider,
)

SYSTEM = {"role": "system", "content": "You answer about {topic}."}


def travel_prompt(url: str = "scripted://echo", **model_params: Any) -> LLMPromptArtifact:
    return LLMPromptArtifact(
        key="travel",
        model_artifact=ModelArtifact("llm", model_url=url, parameters=model_params),
        prompt_template=[
            {"role": "system", "content": "You plan trips."},
            {"role": "user", "content": "Plan {days} days in {city}."},
        ],
        prompt_legend={"city": {"field": "destination", "description": "where"}},
        invocation_config={"temperature": 0.1},
    )


def loaded(model: LLModel, mechanism: str = "naive") -> LLModel:
    model.execution_mechanism = mechanism
    model.init()
    return model


# -- prompt filling ----------------------------------------------------------------------------
def test_fill_template_fills_known_and_keeps_missing_placeholders() -> None:
    missing: set[str] = set()
    text = fill_template("{a} and {b!r} and {c:>4} {{literal}}", {"a": 1, "c": 7}, missing)
    assert text == "1 and {b!r} and    7 {literal}"
    assert missing == {"b"}


def test_fill_template_leaves_unbalanced_text_alone() -> None:
    missing: set[str] = set()
    assert fill_template("a { b", {}, missing) == "a { b"
    assert missing


def test_prompt_is_filled_from_the_body_through_the_legend() -> None:
    model = loaded(LLModel(name="m", artifact_uri=travel_prompt()))
    body: dict[str, Any] = {"destination": "Paris", "days": 3}
    out = model.run(body)
    assert out is body
    assert out["outputs"]["answer"] == "Plan 3 days in Paris."
    # scripted tokens are words: 3 system + 5 user words in, 5 words out
    assert out["outputs"]["usage"] == {"prompt_tokens": 8, "completion_tokens": 5}


def test_missing_placeholders_stay_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = loaded(LLModel(name="m", artifact_uri=travel_prompt()))
    with caplog.at_level(logging.WARNING, logger="streamgraph.serving.llm"):
        out = model.run({"destination": "Rome"})
    assert out["outputs"]["answer"] == "Plan {days} days in Rome."
    assert "missing placeholder(s) ['days']" in caplog.text


def test_input_and_result_paths() -> None:
    model = loaded(
        LLModel(name="m", artifact_uri=travel_prompt(), input_path="req", result_path="res.llm")
    )
    out = model.run({"req": {"destination": "Oslo", "days": 2}})
    assert out["res"]["llm"]["answer"] == "Plan 2 days in Oslo."


def test_without_a_template_the_body_messages_are_sent() -> None:
    model = loaded(LLModel(name="m", artifact_uri=ModelArtifact("llm", model_url="scripted://")))
    out = model.run({"messages": [{"role": "user", "content": "one two three"}]})
    assert out["outputs"]["answer"] == "Summary: one two three"
    with pytest.raises(ValueError, match="no prompt template and no 'messages'"):
        model.run({"question": "?"})


def test_a_batch_gets_one_answer_per_item() -> None:
    model = loaded(LLModel(name="m", artifact_uri=travel_prompt()))
    out = model.run([{"destination": "A", "days": 1}, {"destination": "B", "days": 2}])
    assert [o["outputs"]["answer"] for o in out] == ["Plan 1 days in A.", "Plan 2 days in B."]


def test_mock_provider_answers_like_mlrun() -> None:
    model = loaded(LLModel(name="m", artifact_uri=travel_prompt("mock://")))
    out = model.run({"destination": "X", "days": 1})
    assert out["outputs"] == {
        "answer": "You are using a mock model provider, no actual inference is performed.",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }


def test_no_provider_and_no_predict_override_is_refused() -> None:
    with pytest.raises(RuntimeError) as info:
        loaded(LLModel(name="m"), "asyncio")
    assert str(info.value) == (
        "Model provider could not be determined for model 'm', "
        "and the predict_async function was not overridden."
    )


class Custom(LLModel):
    def predict(
        self,
        body: Any,
        messages: list[dict[str, Any]] | None = None,
        invocation_config: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Any:
        return {"custom": messages}


def test_an_overridden_predict_needs_no_provider() -> None:
    model = loaded(Custom(name="m"))
    assert model.run({"messages": [{"role": "user", "content": "hi"}]}) == {
        "custom": [{"role": "user", "content": "hi"}]
    }


async def test_predict_async_and_a_proxy_prompt() -> None:
    model = loaded(
        LLModel(name="m", artifact_uri=ModelArtifact("llm", model_url="scripted://echo"))
    )
    other = LLMPromptArtifact(
        "other",
        model.model_artifact,  # type: ignore[arg-type]
        prompt_template=[{"role": "user", "content": "Tell me about {topic}."}],
    )
    out = await model.run_async({"topic": "owls"}, origin_name="ep", artifact=other)
    assert out["outputs"]["answer"] == "Tell me about owls."


async def test_streaming_yields_tokens_sync_and_async() -> None:
    model = loaded(LLModel(name="m", artifact_uri=travel_prompt(), streaming=True))
    assert model.is_streaming()
    tokens = list(model.run({"destination": "Paris", "days": 3}))
    assert tokens == ["Plan", " 3", " days", " in", " Paris."]
    chunks = await model.run_async({"destination": "Lima", "days": 4})
    assert "".join([t async for t in chunks]) == "Plan 4 days in Lima."
    with pytest.raises(StreamingError, match="cannot stream a batch"):
        model.run([{"destination": "A"}])


async def test_streaming_llmodel_through_a_thread_pool_runnable() -> None:
    runnable = make_runnable(
        LLModel(name="m", artifact_uri=travel_prompt(), streaming=True), "thread_pool"
    )
    runnable.load()
    chunks = await runnable.run({"destination": "Kyoto", "days": 5})
    assert [t async for t in chunks] == ["Plan", " 5", " days", " in", " Kyoto."]


class NoStream(ModelProvider):
    scheme = "nostream"
    supports_streaming = False

    def invoke(self, messages: list[dict[str, Any]], **config: Any) -> tuple[str, Usage]:
        return "x", {"prompt_tokens": 0, "completion_tokens": 1}


def test_streaming_needs_a_streaming_provider() -> None:
    register_provider(NoStream)
    model = LLModel(name="m", artifact_uri=travel_prompt("nostream://"), streaming=True)
    with pytest.raises(GraphError) as info:
        loaded(model)
    assert str(info.value) == (
        "Streaming is enabled but model provider 'NoStream' does not support streaming"
    )


def test_usage_fields_are_mlruns() -> None:
    assert USAGE_FIELDS == ["answer", "usage"]


# -- scripted provider -------------------------------------------------------------------------
def test_scripted_rules_templates_and_max_tokens() -> None:
    provider = ScriptedProvider(
        "scripted://",
        rules=[{"match": r"weather in (?P<city>\w+)", "answer": "Sunny in {city}, {turns} turn"}],
    )
    messages = [SYSTEM, {"role": "user", "content": "What is the weather in Paris today?"}]
    assert provider.invoke(messages) == (
        "Sunny in Paris, 1 turn",
        {"prompt_tokens": 11, "completion_tokens": 5},
    )
    long = [{"role": "user", "content": " ".join(str(i) for i in range(20))}]
    assert provider.invoke(long)[0] == "Summary: 0 1 2 3 4 5 6 7 8 9 10 11 ..."
    assert provider.invoke(long, max_tokens=3)[0] == "Summary: 0 1"


def test_scripted_bad_template_is_a_provider_error() -> None:
    provider = ScriptedProvider("scripted://", default="{nope}")
    with pytest.raises(ProviderError, match="cannot be filled"):
        provider.invoke([{"role": "user", "content": "hi"}])


def test_unknown_provider_scheme() -> None:
    with pytest.raises(ValueError, match="No model provider for model_url 'llama://x'"):
        get_provider("llama://x")


# -- OpenAI-compatible provider against a local server -----------------------------------------
@dataclass
class FakeOpenAI:
    """Records requests; answers `echo: <last user message>` with fixed usage."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        data = await request.json()
        self.requests.append({"auth": request.headers.get("Authorization"), "body": data})
        if data["model"] == "missing-model":
            return web.json_response({"error": {"message": "model not found"}}, status=404)
        answer = "echo: " + data["messages"][-1]["content"]
        if not data.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": data["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
        await response.write(b"data: " + orjson.dumps(first) + b"\n\n")
        await response.write(b": keep-alive comment\n\n")
        for token in answer.split(" "):
            chunk = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": token + " "}, "finish_reason": None}],
            }
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
def openai_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)  # a free port
        loop.run_until_complete(site.start())
        port.append(runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
    thread.start()
    assert ready.wait(timeout=30), "test server did not start"
    yield fake, f"http://127.0.0.1:{port[0]}/v1"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)


MESSAGES = [{"role": "user", "content": "hello there"}]


def test_openai_sync_invoke_and_stream(openai_server: tuple[FakeOpenAI, str]) -> None:
    fake, base_url = openai_server
    provider = OpenAIProvider("openai://gpt-4o-mini", base_url=base_url, api_key="k1")
    text, usage = provider.invoke(MESSAGES, temperature=0.3)
    assert text == "echo: hello there"
    assert usage == {"prompt_tokens": 9, "completion_tokens": 4}
    sent = fake.requests[-1]
    assert sent["auth"] == "Bearer k1"
    assert sent["body"] == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.3}
    assert list(provider.stream(MESSAGES)) == ["echo: ", "hello ", "there "]
    assert fake.requests[-1]["body"]["stream"] is True


async def test_openai_async_invoke_and_sse_stream(openai_server: tuple[FakeOpenAI, str]) -> None:
    fake, base_url = openai_server
    provider = OpenAIProvider("openai://gpt-4o-mini", base_url=base_url)
    try:
        assert await provider.ainvoke(MESSAGES, max_tokens=5) == (
            "echo: hello there",
            {"prompt_tokens": 9, "completion_tokens": 4},
        )
        assert fake.requests[-1]["body"]["max_tokens"] == 5
        assert [t async for t in provider.astream(MESSAGES)] == ["echo: ", "hello ", "there "]
    finally:
        await provider.aclose()


async def test_openai_error_status_is_a_provider_error(
    openai_server: tuple[FakeOpenAI, str],
) -> None:
    _, base_url = openai_server
    provider = OpenAIProvider("openai://missing-model", base_url=base_url)
    try:
        with pytest.raises(ProviderError, match=r"returned 404: .*model not found") as info:
            await provider.ainvoke(MESSAGES)
        assert info.value.status == 404
        with pytest.raises(ProviderError, match="returned 404"):
            provider.invoke(MESSAGES)
    finally:
        await provider.aclose()


def test_openai_settings_come_from_the_environment(
    openai_server: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, base_url = openai_server
    monkeypatch.setenv("STREAMGRAPH_LLM_BASE_URL", base_url)
    monkeypatch.setenv("STREAMGRAPH_LLM_API_KEY", "from-env")
    provider = get_provider("openai://my-model")
    assert provider.invoke(MESSAGES)[0] == "echo: hello there"
    assert fake.requests[-1]["auth"] == "Bearer from-env"
    assert fake.requests[-1]["body"]["model"] == "my-model"


def test_openai_unreachable_server_is_a_provider_error(tmp_path: Path) -> None:
    provider = OpenAIProvider("openai://m", base_url="http://127.0.0.1:9/v1", timeout=5)
    with pytest.raises(ProviderError, match="unreachable"):
        provider.invoke(MESSAGES)


async def test_llmodel_end_to_end_over_http(openai_server: tuple[FakeOpenAI, str]) -> None:
    fake, base_url = openai_server
    artifact = travel_prompt("openai://gpt-4o-mini", base_url=base_url)
    model = loaded(LLModel(name="m", artifact_uri=artifact), "asyncio")
    try:
        out = await model.run_async({"destination": "Lisbon", "days": 2})
        assert out["outputs"] == {
            "answer": "echo: Plan 2 days in Lisbon.",
            "usage": {"prompt_tokens": 9, "completion_tokens": 4},
        }
        sent = fake.requests[-1]["body"]
        assert sent["messages"][1] == {"role": "user", "content": "Plan 2 days in Lisbon."}
        assert sent["temperature"] == 0.1  # the prompt's invocation_config
        model.streaming = True
        chunks = await model.run_async({"destination": "Porto", "days": 1})
        assert "".join([t async for t in chunks]) == "echo: Plan 1 days in Porto. "
    finally:
        await model.aclose()
