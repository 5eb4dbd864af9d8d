"""The guide's "ModelRunnerStep with proxy models for a shared model": two desks, one LLM.

One `LLModel` is loaded once, in its own process (`execution_mechanism="dedicated_process"`);
the finance and sport endpoints are proxies of it, each filling its own prompt artifact.
`MyModelSelector` (agents/desk_selector.py) picks the desk per question.

The LLM is the deterministic `scripted://` provider, unless an OpenAI-compatible endpoint is
configured (`STREAMGRAPH_LLM_API_KEY` and/or `STREAMGRAPH_LLM_BASE_URL`, model
`STREAMGRAPH_LLM_MODEL`). In process: `python -m topologies.shared_llm`; on Kafka:
`streamgraph worker topologies.shared_llm` and `streamgraph gateway topologies.shared_llm`.
OpenAI's clients call it at `/v1` (`fn.set_openai_frontend()`, model `open-ai-tut`).
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from agents.desk_selector import MyModelSelector
from agents.llm_config import configured_llm_url
from streamgraph import ModelEndpointCreationStrategy, ModelRunnerStep
from streamgraph.engines.kafka import lazy_app
from streamgraph.settings import Settings

DEMO_REQUESTS: list[dict[str, Any]] = [
    {"path": "/", "body": {"question": "Is gold a good hedge against inflation?"}},
    {"path": "/", "body": {"question": "Who wins the tennis final on Sunday?"}},
    {"path": "/", "body": {"topic": "finance", "question": "Should I repay my loan early?"}},
    {"path": "/", "body": {"topic": "cooking", "question": "How long do I boil an egg?"}},
]

# What the scripted LLM answers (first matching rule wins; `{q}` is the question).
SCRIPTED_RULES = [
    {
        "match": r"finance desk.*\b(?P<asset>gold|bitcoin|stocks|bonds)\b",
        "answer": "Finance desk: {asset} is no get-rich-quick trade - size it as a small "
        "slice of a diversified portfolio and judge it over years, not days.",
    },
    {
        "match": r"finance desk\. question: (?P<q>.+)",
        "answer": "Finance desk: on '{q}' - compare the interest you pay with what your "
        "savings earn; the higher rate wins.",
    },
    {
        "match": r"sports desk.*\b(?P<sport>tennis|football|cycling|basketball)\b",
        "answer": "Sports desk: in {sport}, form beats reputation - back whoever won their "
        "last three matches and check the injury list first.",
    },
    {
        "match": r"sports desk\. question: (?P<q>.+)",
        "answer": "Sports desk: on '{q}' - home advantage is worth about a goal.",
    },
]


def llm_artifacts(
    settings: Settings | None = None,
) -> tuple[sg.ModelArtifact, sg.LLMPromptArtifact, sg.LLMPromptArtifact]:
    """The shared model and the two desks' prompts over it."""
    url = configured_llm_url(settings)
    if url is None:
        model = sg.ModelArtifact("shared-llm", model_url="scripted://desks")
        model.parameters = {"rules": SCRIPTED_RULES, "default": "I can only answer: {last_user}"}
    else:
        model = sg.ModelArtifact("shared-llm", model_url=url, parameters={"max_tokens": 120})
    legend = {"question": {"field": "question", "description": "the user's question"}}
    finance = sg.LLMPromptArtifact(
        "finance-prompt",
        model_artifact=model,
        prompt_template=[
            {"role": "system", "content": "You are a prudent finance analyst. Two sentences."},
            {"role": "user", "content": "Finance desk. Question: {question}"},
        ],
        prompt_legend=legend,
    )
    sport = sg.LLMPromptArtifact(
        "sport-prompt",
        model_artifact=model,
        prompt_template=[
            {"role": "system", "content": "You are a cheerful sports pundit. Two sentences."},
            {"role": "user", "content": "Sports desk. Question: {question}"},
        ],
        prompt_legend=legend,
    )
    return model, finance, sport


def build_function(settings: Settings | None = None) -> sg.ServingFunction:
    model_artifact, finance_llm_prompt_artifact, sport_llm_prompt_artifact = llm_artifacts(settings)
    # the guide's project.set_function(name="open-ai-tut", kind="serving", ...)
    function = sg.new_function("open-ai-tut", namespace={"MyModelSelector": MyModelSelector})

    # --- the guide's code ---
    graph = function.set_topology("flow", engine="async")
    assert isinstance(graph, sg.RootFlowStep)  # (not in the guide: tells the type checker)

    model_runner_step = ModelRunnerStep(name="model_runner_step", model_selector="MyModelSelector")

    graph.add_shared_model(
        name="shared_llm",
        execution_mechanism="dedicated_process",
        model_class="LLModel",
        model_artifact=model_artifact,
        result_path="outputs",
    )

    model_runner_step.add_shared_model_proxy(
        endpoint_name="finance_endpoint",
        model_artifact=finance_llm_prompt_artifact,
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=ModelEndpointCreationStrategy.OVERWRITE,
    )
    model_runner_step.add_shared_model_proxy(
        endpoint_name="sport_endpoint",
        model_artifact=sport_llm_prompt_artifact,
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=ModelEndpointCreationStrategy.OVERWRITE,
    )

    graph.to(model_runner_step).respond()

    # (not in the guide) OpenAI's clients call it too: POST /v1/chat/completions and
    # /v1/responses, model "open-ai-tut"; the last user message is the desks' question
    function.set_openai_frontend(input_key="question")
    return function


function = build_function()
# `app`, the Faust app `faust -A topologies.shared_llm worker` runs, built on first use. Its
# proxies reach the shared LLM through Kafka (`streamgraph worker topologies.shared_llm --model
# shared_llm` serves it), so building the app starts no process.
__getattr__ = lazy_app(__name__)


def main() -> None:
    from topologies._demo import run_demo

    run_demo(function, DEMO_REQUESTS)


if __name__ == "__main__":
    main()
