"""A deployed function's OpenAI frontend: `fn.deploy()` starts `streamgraph gateway` on the
function's JSON spec, which must carry `set_openai_frontend()` to the gateway process."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import streamgraph as sg

pytestmark = pytest.mark.kafka


def shout(body: dict[str, Any]) -> dict[str, Any]:
    return {"answer": body["question"].upper()}


@pytest.fixture
def brokers(kafka_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STREAMGRAPH_TOPIC_PREFIX", kafka_env["STREAMGRAPH_TOPIC_PREFIX"])
    return kafka_env["STREAMGRAPH_BROKERS"]


def test_a_deployed_gateway_serves_the_openai_frontend(brokers: str) -> None:
    fn = sg.new_function("deploy-openai")  # built here: the gateway loads it from a spec file
    fn.set_topology("flow").to(name="shout", handler="shout").respond()
    fn.set_openai_frontend(prefix="/openai", models=["shouter"], input_key="question")
    try:
        url = fn.deploy(brokers=brokers)
        api = openai.OpenAI(base_url=f"{url}/openai", api_key="x", max_retries=0, timeout=30)
        assert [m.id for m in api.models.list()] == ["shouter"]
        said = api.chat.completions.create(
            model="shouter", messages=[{"role": "user", "content": "hello"}]
        )
        assert said.choices[0].message.content == "HELLO"
        with pytest.raises(openai.NotFoundError):
            api.chat.completions.create(
                model="deploy-openai", messages=[{"role": "user", "content": "hello"}]
            )
    finally:
        fn.undeploy()
