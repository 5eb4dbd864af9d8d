"""The OpenAI frontend: the official `openai` client against a real gateway, over Kafka (a
worker on the test broker) and over the in-process backend (`streamgraph run --local`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
import requests
from gateway_live import LiveGateway
from pydantic import SecretStr

import streamgraph as sg
from agents.desk_selector import MyModelSelector
from streamgraph.gateway import gateway_app
from streamgraph.gateway.in_process_app import local_gateway_app
from streamgraph.serving.llm import fill_template
from streamgraph.serving.providers import ScriptedProvider, get_provider
from streamgraph.settings import Settings
from streamgraph.testing import serve
from topologies import shared_llm

CLIENT_TIMEOUT = 30.0  # seconds the client waits for one answer (or one stream)
ECHO = "scripted://echo"


def refuse(body: dict[str, Any]) -> dict[str, Any]:
    """A step that refuses questions about fails, else echoes the question."""
    if "fail" in body["question"]:
        raise ValueError("this step does not answer about fails")
    return {"answer": body["question"].upper()}


def echo(body: Any) -> Any:
    return body


class SlowThenBroken:
    """Streams two words 0.3 s apart, then fails: a stream that breaks after it started."""

    async def do(self, body: Any) -> AsyncIterator[str]:
        for word in ("first", " second"):
            yield word
            await asyncio.sleep(0.3)
        raise RuntimeError("the model went away")


NAMES: dict[str, Any] = {
    "MyModelSelector": MyModelSelector,
    "refuse": refuse,
    "echo": echo,
    "SlowThenBroken": SlowThenBroken,
}


def chat_llm(name: str = "chat-llm") -> sg.ServingFunction:
    """An LLModel over the scripted provider that streams its tokens."""
    fn = sg.new_function(name)
    runner = sg.ModelRunnerStep(name="runner")
    llm = sg.ModelArtifact("llm", model_url=ECHO)
    runner.add_model(
        "llm", model_class="LLModel", model_artifact=llm, execution_mechanism="asyncio"
    )
    fn.set_topology("flow").to(runner).respond()
    fn.set_streaming(enabled=True)
    fn.set_openai_frontend(models=["echo-1", "echo-2"])
    return fn


def refuser() -> sg.ServingFunction:
    fn = sg.new_function("refuser")
    fn.set_topology("flow").to(name="refuse", handler="refuse").respond()
    fn.set_openai_frontend(input_key="question")
    return fn


def no_frontend() -> sg.ServingFunction:
    fn = sg.new_function("plain-echo")
    fn.set_topology("flow").to(name="echo", handler="echo").respond()
    return fn


def breaks_midway() -> sg.ServingFunction:
    fn = sg.new_function("breaks-midway")
    fn.set_topology("flow").to(name="slow", class_name="SlowThenBroken").respond()
    fn.set_streaming(enabled=True)
    fn.set_openai_frontend()
    return fn


def live_gateway(fn: sg.ServingFunction, engine: str, **settings: Any) -> LiveGateway:
    """The function's gateway on a free port: its worker on the broker, or in process."""
    if engine == "local":
        return LiveGateway(local_gateway_app(fn, Settings(**settings)))
    server = serve(fn, engine="kafka", namespace=NAMES)
    gateway_settings = server.settings.model_copy(update=settings)
    return LiveGateway(gateway_app(fn.name, gateway_settings, fn.spec.openai_frontend))


@pytest.fixture
def gateway(engine: str, request: pytest.FixtureRequest) -> Iterator[LiveGateway]:
    fn = request.param() if hasattr(request, "param") else chat_llm()
    with live_gateway(fn, engine) as live:
        yield live


def client(live: LiveGateway, prefix: str = "/v1", api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://{live.url}{prefix}",
        api_key=api_key,
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
    )


def desk_answer(prompt: sg.LLMPromptArtifact, question: str) -> tuple[str, dict[str, int]]:
    """What the shared LLM says to `question` through a desk's prompt, asked directly."""
    model = prompt.model_artifact
    assert model.model_url is not None
    messages = [
        {**m, "content": fill_template(m["content"], {"question": question}, set())}
        for m in prompt.prompt_template
    ]
    return get_provider(model.model_url, **model.parameters).invoke(messages)


def tokens(text: str) -> list[str]:
    return list(ScriptedProvider(ECHO).stream([{"role": "user", "content": text}]))


# -- plain: the shared_llm example ---------------------------------------------------------------
@pytest.mark.parametrize("gateway", [shared_llm.build_function], indirect=True)
def test_the_shared_llm_answers_the_openai_client(gateway: LiveGateway) -> None:
    _, finance, sport = shared_llm.llm_artifacts()
    api = client(gateway)
    assert [m.id for m in api.models.list()] == ["open-ai-tut"]
    question = "Is gold a good hedge against inflation?"
    completion = api.chat.completions.create(
        model="open-ai-tut",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": question},
        ],
    )
    text, usage = desk_answer(finance, question)
    assert completion.object == "chat.completion" and completion.model == "open-ai-tut"
    assert completion.choices[0].message.content == text
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == usage["prompt_tokens"]
    assert completion.usage.completion_tokens == usage["completion_tokens"]
    # the Responses API: its input is the question, the sports desk answers this one
    question = "Who wins the tennis final on Sunday?"
    response = api.responses.create(model="open-ai-tut", input=question)
    text, usage = desk_answer(sport, question)
    assert response.status == "completed"
    assert response.output_text == text
    assert response.usage is not None and response.usage.output_tokens == usage["completion_tokens"]


# -- streaming: an LLM's tokens as server-sent events ------------------------------------------
def test_stream_true_relays_each_token_as_a_chunk(gateway: LiveGateway) -> None:
    api = client(gateway)
    said = "stream these five words please"
    stream = api.chat.completions.create(
        model="echo-2", messages=[{"role": "user", "content": said}], stream=True
    )
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].model == "echo-2"
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert deltas == tokens(said)  # one chunk per token, in order
    assert chunks[-1].choices[0].finish_reason == "stop"
    # without stream, the same streaming graph answers one completion
    whole = api.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": said}]
    )
    assert whole.choices[0].message.content == said


def test_responses_stream_sends_openai_events(gateway: LiveGateway) -> None:
    api = client(gateway)
    said = "three little words"
    events = list(api.responses.create(model="echo-1", input=said, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert [getattr(e, "delta", None) for e in events if e.type.endswith("text.delta")] == tokens(
        said
    )
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1]
    assert done.type == "response.completed" and done.response.output_text == said


def test_raw_sse_framing(gateway: LiveGateway) -> None:
    body = {"model": "echo-1", "messages": [{"role": "user", "content": "a b"}], "stream": True}
    with requests.post(
        f"http://{gateway.url}/v1/chat/completions", json=body, stream=True, timeout=30
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines(decode_unicode=True) if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 1 + len(tokens("a b")) + 1 + 1  # role, tokens, stop, [DONE]


# -- errors: OpenAI's shape with their status ------------------------------------------------
def error_of(resp: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_bad_requests_get_openai_errors(gateway: LiveGateway) -> None:
    api = client(gateway)
    with pytest.raises(openai.BadRequestError) as missing:
        api.chat.completions.create(model="echo-1", messages=None)  # type: ignore[arg-type]
    assert missing.value.status_code == 400
    assert isinstance(missing.value.body, dict) and missing.value.body["param"] == "messages"
    with pytest.raises(openai.NotFoundError) as unknown:
        api.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.status_code == 404
    assert isinstance(unknown.value.body, dict)
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("gpt-4o")
    assert api.models.retrieve("echo-2").id == "echo-2"
    url = f"http://{gateway.url}/v1"
    resp = requests.post(f"{url}/chat/completions", json={"model": "echo-1"}, timeout=30)
    assert resp.status_code == 400
    assert error_of(resp) == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
    no_model = {"messages": [{"role": "user", "content": "hi"}]}
    resp = requests.post(f"{url}/chat/completions", json=no_model, timeout=30)
    assert resp.status_code == 400 and error_of(resp)["param"] == "model"
    resp = requests.post(f"{url}/responses", json={"model": "nope", "input": "hi"}, timeout=30)
    assert resp.status_code == 404 and error_of(resp)["code"] == "model_not_found"
    resp = requests.post(
        f"{url}/chat/completions",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 400 and "JSON" in error_of(resp)["message"]
    chat = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
    resp = requests.post(
        f"{url}/chat/completions", json=chat, headers={"X-Request-Timeout": "soon"}, timeout=30
    )
    assert resp.status_code == 400 and "X-Request-Timeout" in error_of(resp)["message"]


@pytest.mark.parametrize("gateway", [refuser], indirect=True)
def test_step_errors_keep_their_status_in_openai_shape(gateway: LiveGateway) -> None:
    api = client(gateway)
    ok = api.chat.completions.create(
        model="refuser", messages=[{"role": "user", "content": "all good"}]
    )
    assert ok.choices[0].message.content == "ALL GOOD"
    with pytest.raises(openai.BadRequestError) as failed:
        api.chat.completions.create(
            model="refuser", messages=[{"role": "user", "content": "why fail?"}]
        )
    assert failed.value.status_code == 400
    assert "this step does not answer about fails" in failed.value.message
    # streaming asked of a graph that does not stream: the error still has its status
    with pytest.raises(openai.BadRequestError):
        list(
            api.chat.completions.create(
                model="refuser", messages=[{"role": "user", "content": "fail"}], stream=True
            )
        )
    # and a plain answer comes as one chunk
    chunks = list(
        api.chat.completions.create(
            model="refuser", messages=[{"role": "user", "content": "one"}], stream=True
        )
    )
    assert [c.choices[0].delta.content for c in chunks] == ["", "ONE", None]


@pytest.mark.parametrize("gateway", [no_frontend], indirect=True)
def test_without_the_frontend_openai_paths_go_to_the_graph(gateway: LiveGateway) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    resp = requests.post(f"http://{gateway.url}/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200
    assert resp.json() == body  # the graph's own answer, as before


@pytest.mark.parametrize("gateway", [breaks_midway], indirect=True)
def test_chunks_arrive_as_made_and_a_broken_stream_raises(gateway: LiveGateway) -> None:
    api = client(gateway)
    stream = api.chat.completions.create(
        model="breaks-midway", messages=[{"role": "user", "content": "go"}], stream=True
    )
    seen: list[tuple[str | None, float]] = []
    with pytest.raises(openai.APIError, match="the model went away"):
        for chunk in stream:
            seen.append((chunk.choices[0].delta.content, time.monotonic()))
    assert [text for text, _ in seen] == ["", "first", " second"]
    # the first word was relayed while the step was still making the second
    assert seen[2][1] - seen[1][1] > 0.2


def test_the_api_key_is_the_gateways_bearer_token(engine: str) -> None:
    with live_gateway(chat_llm(), engine, gateway_tokens=SecretStr("sk-right")) as live:
        said = client(live, api_key="sk-right").chat.completions.create(
            model="echo-1", messages=[{"role": "user", "content": "let me in"}]
        )
        assert said.choices[0].message.content == "let me in"
        with pytest.raises(openai.AuthenticationError):
            client(live, api_key="sk-wrong").models.list()
