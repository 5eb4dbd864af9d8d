"""The guide's shared-LLM model runner, through the HTTP gateway, on the real broker."""

from __future__ import annotations

from typing import Any

import pytest
from topology_gateway import gateway_client

import streamgraph as sg
from agents.desk_selector import MyModelSelector
from agents.llm_config import configured_llm_url
from streamgraph.serving.llm import fill_template
from streamgraph.serving.providers import get_provider
from streamgraph.settings import Settings
from topologies import shared_llm

NAMES = {"MyModelSelector": MyModelSelector}


def expected_answer(prompt: sg.LLMPromptArtifact, question: str) -> tuple[str, dict[str, int]]:
    """What the shared model says to `question` through `prompt`, asked directly."""
    model = prompt.model_artifact
    assert model.model_url is not None
    messages = [
        {**m, "content": fill_template(m["content"], {"question": question}, set())}
        for m in prompt.prompt_template
    ]
    return get_provider(model.model_url, **model.parameters).invoke(messages)


@pytest.mark.kafka
async def test_each_desk_answers_through_the_one_shared_llm(kafka_broker: Any) -> None:
    _, finance, sport = shared_llm.llm_artifacts()
    cases = [
        ({"question": "Is bitcoin a good investment?"}, "finance_endpoint", finance),
        ({"question": "Who wins the cycling classic?"}, "sport_endpoint", sport),
        ({"topic": "sport", "question": "Are the prices fair?"}, "sport_endpoint", sport),
    ]
    async with gateway_client(shared_llm.build_function(), kafka_broker, NAMES) as client:
        for body, endpoint, prompt in cases:
            resp = await client.post("/", json=body)
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
            assert list(answer) == [endpoint]
            text, usage = expected_answer(prompt, body["question"])
            assert answer[endpoint]["outputs"] == {"answer": text, "usage": usage}
            assert answer[endpoint]["question"] == body["question"]
        bad = await client.post("/", json={"topic": "cooking", "question": "eggs?"})
        assert bad.status == 400
        assert "cooking" in (await bad.json())["error"]


def test_the_scripted_desks_differ_and_use_the_question() -> None:
    _, finance, sport = shared_llm.llm_artifacts(Settings())
    money, _ = expected_answer(finance, "Should I buy bonds?")
    match, _ = expected_answer(sport, "Who wins the football derby?")
    assert money.startswith("Finance desk") and "bonds" in money
    assert match.startswith("Sports desk") and "football" in match


def test_a_configured_endpoint_replaces_the_scripted_llm() -> None:
    settings = Settings(llm_api_key="sk-test", llm_model="my-model")
    assert configured_llm_url(settings) == "openai://my-model"
    local = Settings(llm_base_url="http://127.0.0.1:11434/v1")  # a local server needs no key
    assert configured_llm_url(local) == "openai://gpt-4o-mini"
    assert configured_llm_url(Settings()) is None
    model, finance, _ = shared_llm.llm_artifacts(settings)
    assert model.model_url == "openai://my-model"
    assert finance.model_artifact.model_url == "openai://my-model"
