"""ModelRunnerStep, tested directly: construct, give a minimal context, post_init, do."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamgraph.errors import GraphError, NotFoundError
from streamgraph.serving.artifacts import LLMPromptArtifact, ModelArtifact
from streamgraph.serving.endpoints import EndpointRegistry, ModelEndpointCreationStrategy
from streamgraph.serving.model import Model, ModelSelector
from streamgraph.serving.model_runner import ModelRunnerError, ModelRunnerStep


class Context:
    """The minimal context an engine gives a step."""

    def __init__(self, **attrs: Any) -> None:
        self.logger = logging.getLogger("test")
        self.parameters: dict[str, Any] = {}
        self.shared_models: Any = None
        self.endpoints: Any = None
        self.namespace: dict[str, Any] = {}
        self.streaming = False
        self.__dict__.update(attrs)

    def get_param(self, key: str, default: Any = None) -> Any:
        return self.parameters.get(key, default)


class Where(Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        return {
            "model": self.name,
            "x": body["x"],
            "pid": os.getpid(),
            "thread_id": threading.get_ident(),
        }


class Mutates(Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        body["seen_by"] = self.name  # writes into its body
        return dict(body)


class Fails(Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        raise ValueError(f"{self.name} cannot handle {body['x']}")


class Missing(Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        raise NotFoundError("no such item")


class Meet(Model):
    """Two of these finish only if they run at the same time."""

    async def predict_async(self, body: Any, **kw: Any) -> Any:
        await self.get_param("barrier").wait()
        return self.name


class Tokens(Model):
    def predict(self, body: Any, **kw: Any) -> Iterator[str]:
        yield from body["text"].split()


class Batch(Model):
    def format_batch(self, body: list[Any]) -> Any:
        return {"x": sum(body)}

    def predict(self, body: Any, **kw: Any) -> Any:
        return body["x"]


class ByKey(ModelSelector):
    def select_models(self, event: Any, available_models: list[str]) -> list[str] | None:
        return event.get("models")

    def select_outlets(self, body: Any) -> list[str] | None:
        return ["again"] if body.get("loop") else ["done"]


def started(step: ModelRunnerStep, **ctx: Any) -> ModelRunnerStep:
    step.context = Context(**ctx)
    step.post_init()
    return step


@pytest.fixture
def steps() -> Iterator[list[ModelRunnerStep]]:
    made: list[ModelRunnerStep] = []
    yield made
    for step in made:
        step.close()


def new_step(steps: list[ModelRunnerStep], **kw: Any) -> ModelRunnerStep:
    step = ModelRunnerStep(**kw)
    step.configure_pool_resource(max_processes=2, max_threads=4)
    steps.append(step)
    return step


async def test_one_model_gives_its_own_result(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps, name="mrs")
    step.add_model("a", Where)
    started(step)
    out = await step.do({"x": 1})
    assert out["model"] == "a" and out["x"] == 1


async def test_models_run_concurrently_and_answer_by_name(steps: list[ModelRunnerStep]) -> None:
    barrier = asyncio.Barrier(2)  # neither passes unless both wait at once
    step = new_step(steps)
    step.add_model("left", Meet, execution_mechanism="asyncio", barrier=barrier)
    step.add_model("right", Meet, execution_mechanism="asyncio", barrier=barrier)
    started(step)
    out = await asyncio.wait_for(step.do({}), timeout=10)
    assert out == {"left": "left", "right": "right"}


async def test_each_mechanism_runs_where_it_says_within_one_step(
    steps: list[ModelRunnerStep],
) -> None:
    step = new_step(steps)
    for mechanism in ("naive", "asyncio", "thread_pool", "process_pool", "dedicated_process"):
        step.add_model(mechanism, Where, execution_mechanism=mechanism)
    started(step)
    out = await step.do({"x": 5})
    me, here = os.getpid(), threading.get_ident()
    assert {name: r["x"] for name, r in out.items()} == dict.fromkeys(out, 5)
    assert out["naive"]["thread_id"] == here and out["asyncio"]["thread_id"] == here
    assert out["thread_pool"]["pid"] == me and out["thread_pool"]["thread_id"] != here
    assert out["process_pool"]["pid"] != me
    assert out["dedicated_process"]["pid"] != me


async def test_each_model_gets_its_own_copy_of_the_body(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps)
    step.add_model("m1", Mutates)
    step.add_model("m2", Mutates)
    started(step)
    body = {"x": 1}
    out = await step.do(body)
    assert out == {"m1": {"x": 1, "seen_by": "m1"}, "m2": {"x": 1, "seen_by": "m2"}}
    assert body == {"x": 1}


async def test_the_selector_limits_which_models_run(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps, model_runner_selector="ByKey")
    step.add_model("a", Where)
    step.add_model("b", Where)
    step.add_model("c", Where)
    started(step, namespace={"ByKey": ByKey})
    assert set(await step.do({"x": 1, "models": ["a", "c"]})) == {"a", "c"}
    assert set(await step.do({"x": 1})) == {"a", "b", "c"}  # None: all models
    with pytest.raises(ValueError, match=r"chose unknown model\(s\) \['z'\]"):
        await step.do({"x": 1, "models": ["z"]})


def test_select_outlets_delegates_to_the_selector(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps, model_selector=ByKey())
    step.add_model("a", Where)
    started(step)
    assert step.select_outlets({"loop": True}) == ["again"]
    assert step.select_outlets({}) == ["done"]
    plain = new_step(steps)
    plain.add_model("a", Where)
    assert started(plain).select_outlets({"loop": True}) is None


class Legacy(ModelSelector):
    """MLRun's older selector API: select(event, available_models)."""

    def select(self, event: Any, available_models: list[str]) -> list[str]:
        return available_models[:1]


async def test_selector_by_class_with_parameters_and_legacy_select(
    steps: list[ModelRunnerStep],
) -> None:
    class Prefix(ModelSelector):
        def select_models(self, event: Any, available_models: list[str]) -> list[str]:
            return [m for m in available_models if m.startswith(self.params["prefix"])]

    step = new_step(
        steps, model_runner_selector=Prefix, model_runner_selector_parameters={"prefix": "b"}
    )
    step.add_model("a1", Where)
    step.add_model("b1", Where)
    started(step)
    assert list(await step.do({"x": 0})) == ["b1"]
    legacy = new_step(steps, model_selector=Legacy())
    legacy.add_model("a1", Where)
    legacy.add_model("b1", Where)
    started(legacy)
    assert list(await legacy.do({"x": 0})) == ["a1"]


def test_both_selector_arguments_are_refused() -> None:
    with pytest.raises(GraphError) as info:
        ModelRunnerStep(model_selector="A", model_runner_selector="B")
    assert str(info.value) == (
        "Cannot provide both `model_selector`/`model_selector_parameters` and "
        "`model_runner_selector`/`model_runner_selector_parameters`. "
        "Please use only the latter pair."
    )


async def test_raise_exception_false_puts_errors_in_the_result(
    steps: list[ModelRunnerStep],
) -> None:
    step = new_step(steps, raise_exception=False)
    step.add_model("ok", Where)
    step.add_model("bad", Fails, execution_mechanism="dedicated_process")
    started(step)
    out = await step.do({"x": 7})
    assert out["ok"]["x"] == 7
    assert out["bad"] == {"error": "ValueError: bad cannot handle 7"}
    single = new_step(steps, raise_exception=False)
    single.add_model("bad", Fails, execution_mechanism="thread_pool")
    started(single)
    assert await single.do({"x": 1}) == {"error": "ValueError: bad cannot handle 1"}


async def test_raise_exception_true_fails_the_event_naming_each_model(
    steps: list[ModelRunnerStep],
) -> None:
    step = new_step(steps, name="runner")
    step.add_model("ok", Where)
    step.add_model("bad1", Fails)
    step.add_model("bad2", Fails, execution_mechanism="process_pool")
    started(step)
    with pytest.raises(ModelRunnerError) as info:
        await step.do({"x": 3})
    assert info.value.models_errors == {
        "bad1": "ValueError: bad1 cannot handle 3",
        "bad2": "ValueError: bad2 cannot handle 3",
    }
    assert "bad1: ValueError: bad1 cannot handle 3" in str(info.value)
    assert "bad2: ValueError: bad2 cannot handle 3" in str(info.value)


async def test_a_failing_models_http_status_is_kept(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps)
    step.add_model("m", Missing)
    started(step)
    with pytest.raises(ModelRunnerError) as info:
        await step.do({})
    assert info.value.status_code == 404


def test_add_model_refusals() -> None:
    step = ModelRunnerStep(name="s")
    step.add_model("a", Where)
    with pytest.raises(
        GraphError, match="Model with name a already exists in this ModelRunnerStep"
    ):
        step.add_model("a", Where)
    step.add_model("a", Where, execution_mechanism="thread_pool", override=True)
    with pytest.raises(ValueError, match="Execution mechanism 'warp' is invalid"):
        step.add_model("b", Where, execution_mechanism="warp")
    with pytest.raises(ValueError, match="'shared_executor' is invalid"):
        step.add_model("b", Where, execution_mechanism="shared_executor")
    with pytest.raises(GraphError, match="also provide `model_parameters`"):
        step.add_model("b", Where(), threshold=1)
    with pytest.raises(GraphError, match="Inconsistent name for model added to ModelRunnerStep"):
        step.add_model("b", Where(name="c"))
    with pytest.raises(GraphError, match="model_class is required"):
        step.add_model("b")
    with pytest.raises(GraphError, match="local paths and file://"):
        step.add_model("b", Where, model_artifact="store://models/p/m")
    assert step.models == ["a"]


async def test_a_prompt_artifact_alone_means_llmodel(steps: list[ModelRunnerStep]) -> None:
    prompt = LLMPromptArtifact(
        "greet",
        ModelArtifact("llm", model_url="scripted://echo"),
        prompt_template=[{"role": "user", "content": "Hello {name}"}],
    )
    step = new_step(steps)
    step.add_model("llm", model_artifact=prompt, outputs=["something"])
    assert step.to_dict()["models"]["llm"]["outputs"] == ["answer", "usage"]
    started(step)
    out = await step.do({"name": "Ada"})
    assert out["outputs"]["answer"] == "Hello Ada"


async def test_endpoint_counters(steps: list[ModelRunnerStep]) -> None:
    registry = EndpointRegistry()
    step = new_step(steps, name="runner", raise_exception=False)
    step.add_model("ok", Where, labels={"team": "ml"})
    step.add_model("bad", Fails, model_endpoint_creation_strategy="overwrite")
    step.add_model(
        "quiet", Where, model_endpoint_creation_strategy=ModelEndpointCreationStrategy.SKIP
    )
    started(step, endpoints=registry)
    for i in range(3):
        await step.do({"x": i})
    ok, bad = registry.get("ok"), registry.get("bad")
    assert ok is not None and bad is not None
    assert (ok.stats.requests, ok.stats.errors, ok.stats.latency_count) == (3, 0, 3)
    assert (bad.stats.requests, bad.stats.errors) == (3, 3)
    assert ok.labels == {"team": "ml"} and ok.step == "runner" and ok.model_class == "Where"
    assert bad.strategy is ModelEndpointCreationStrategy.OVERWRITE
    assert registry.get("quiet") is None


async def test_endpoint_names_are_unique_across_steps(steps: list[ModelRunnerStep]) -> None:
    registry = EndpointRegistry()
    first, second = new_step(steps, name="one"), new_step(steps, name="two")
    first.add_model("m", Where)
    second.add_model("m", Where)
    started(first, endpoints=registry)
    with pytest.raises(GraphError, match=r"already contains the model endpoints named - \['m'\]"):
        started(second, endpoints=registry)


async def test_a_single_streaming_model_streams(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps)
    step.add_model("tok", Tokens, execution_mechanism="thread_pool")
    started(step)
    out = await step.do({"text": "one two three"})
    assert isinstance(out, AsyncIterator)
    assert [c async for c in out] == ["one", "two", "three"]
    endpoint = step.endpoints.get("tok") if step.endpoints else None
    assert endpoint is not None and endpoint.stats.requests == 1


async def test_an_llmodel_streams_when_the_server_streams(steps: list[ModelRunnerStep]) -> None:
    prompt = LLMPromptArtifact(
        "p",
        ModelArtifact("llm", model_url="scripted://echo"),
        prompt_template=[{"role": "user", "content": "stream {what}"}],
    )
    step = new_step(steps)
    step.add_model("llm", model_artifact=prompt, execution_mechanism="asyncio")
    started(step, streaming=True)
    out = await step.do({"what": "these tokens"})
    assert [t async for t in out] == ["stream", " these", " tokens"]
    quiet = new_step(steps)
    quiet.add_model("llm", model_artifact=prompt, execution_mechanism="asyncio")
    started(quiet)  # a non-streaming server: one answer
    assert (await quiet.do({"what": "x"}))["outputs"]["answer"] == "stream x"


async def test_streams_are_collected_when_several_models_answer(
    steps: list[ModelRunnerStep],
) -> None:
    step = new_step(steps)
    step.add_model("tok", Tokens)
    step.add_model("other", Where)
    started(step)
    out = await step.do({"text": "a b", "x": 1})
    assert out["tok"] == ["a", "b"]


async def test_batches_go_through_format_batch(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps)
    step.add_model("sum", Batch, execution_mechanism="dedicated_process")
    started(step)
    assert await step.do([1, 2, 3]) == 6


async def test_do_before_post_init_is_an_error() -> None:
    step = ModelRunnerStep(name="s")
    step.add_model("a", Where)
    with pytest.raises(RuntimeError, match="not started"):
        await step.do({"x": 1})


async def test_to_dict_and_from_dict_rebuild_a_working_step(
    steps: list[ModelRunnerStep],
) -> None:
    step = ModelRunnerStep(
        name="mrs", model_runner_selector=ByKey(), raise_exception=False, input_path="in"
    )
    step.add_model("a", Where, execution_mechanism="thread_pool", labels=["x"])
    step.add_model("b", "Fails")
    data = step.to_dict()
    assert data["kind"] == "model_runner"
    assert data["model_runner_selector"].endswith(".ByKey")
    assert data["step_args"] == {"input_path": "in"}
    again = ModelRunnerStep.from_dict(data)
    steps.append(again)
    assert again.to_dict() == data
    started(again, namespace={"Fails": Fails})
    out = await again.do({"x": 2, "models": ["a", "b"]})
    assert out["a"]["x"] == 2
    assert out["b"] == {"error": "ValueError: b cannot handle 2"}
    assert again.select_outlets({"loop": True}) == ["again"]


def test_close_stops_dedicated_processes(steps: list[ModelRunnerStep]) -> None:
    step = new_step(steps)
    step.add_model("d", Where, execution_mechanism="dedicated_process")
    started(step)
    process = step._runnables["d"].pid  # type: ignore[attr-defined]
    step.close()
    with pytest.raises(ProcessLookupError):
        os.kill(process, 0)
