"""Model, ModelSelector and ModelSpec: parameters, hooks, streaming detection, building."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamgraph.errors import GraphError
from streamgraph.serving.artifacts import LLMPromptArtifact, ModelArtifact
from streamgraph.serving.llm import LLModel
from streamgraph.serving.model import (
    Model,
    ModelRunnerError,
    ModelRunnerSelector,
    ModelSelector,
    ModelSpec,
)
from streamgraph.serving.providers import ScriptedProvider


class Doubler(Model):
    factor = 2  # a class default that a parameter may override

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.loads = 0

    def load(self) -> None:
        self.loads += 1

    def predict(self, body: Any, **kw: Any) -> Any:
        return {"y": body["x"] * self.factor}


class AsyncOnly(Model):
    async def predict_async(self, body: Any, **kw: Any) -> Any:
        return {"async": body}


class NoPredict(Model):
    pass


class Tokens(Model):
    def predict(self, body: Any, **kw: Any) -> Iterator[str]:
        yield from body.split()


class AsyncTokens(Model):
    async def predict_async(self, body: Any, **kw: Any) -> AsyncIterator[str]:
        for word in body.split():
            yield word


class Batched(Model):
    def format_batch(self, body: list[Any]) -> Any:
        return {"rows": body}

    def predict(self, body: Any, **kw: Any) -> Any:
        return len(body["rows"])


def test_parameters_are_attributes_and_get_param() -> None:
    model = Doubler(name="d", factor=3, label="x")
    assert model.factor == 3
    assert model.get_param("label") == "x"
    assert model.get_param("missing", 7) == 7
    assert Doubler(name="d2").factor == 2


def test_a_parameter_may_not_hide_a_method() -> None:
    with pytest.raises(TypeError, match="parameter 'predict' would hide"):
        Doubler(name="d", predict=1)


def test_predict_async_runs_predict_by_default() -> None:
    import asyncio

    assert asyncio.run(Doubler(name="d").predict_async({"x": 4})) == {"y": 8}


def test_is_streaming_detects_generators() -> None:
    assert Tokens(name="t").is_streaming()
    assert AsyncTokens(name="t").is_streaming()
    assert not Doubler(name="d").is_streaming()


def test_run_formats_list_bodies_as_batches() -> None:
    assert Batched(name="b").run([1, 2, 3]) == 3


async def test_run_async_returns_async_generators_unawaited() -> None:
    result = await AsyncTokens(name="t").run_async("a b c")
    assert [w async for w in result] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("cls", "mechanism", "message"),
    [
        (NoPredict, "naive", "is running with naive execution_mechanism but predict()"),
        (AsyncOnly, "thread_pool", "is running with thread_pool execution_mechanism but predict()"),
        (NoPredict, "asyncio", "is running with asyncio execution_mechanism but predict_async()"),
    ],
)
def test_missing_predict_for_the_mechanism(cls: type[Model], mechanism: str, message: str) -> None:
    with pytest.raises(ModelRunnerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(name="m").check_implemented(mechanism)


def test_asyncio_accepts_either_predict() -> None:
    AsyncOnly(name="a").check_implemented("asyncio")
    Doubler(name="d").check_implemented("asyncio")


def test_init_reads_the_artifact_makes_the_provider_then_loads(tmp_path: Path) -> None:
    path = ModelArtifact("llm", model_url="scripted://echo").save(tmp_path)
    model = Doubler(name="d", artifact_uri=path)
    model.init()
    assert model.loads == 1
    assert model.model_artifact is not None and model.model_artifact.key == "llm"
    assert isinstance(model.model_provider, ScriptedProvider)
    assert model.loaded


def test_a_prompt_artifact_sets_both_artifacts() -> None:
    llm = ModelArtifact("llm", model_url="mock://")
    model = Doubler(name="d", artifact_uri=LLMPromptArtifact("p", llm))
    model.init()
    assert model.invocation_artifact is not None and model.invocation_artifact.key == "p"
    assert model.model_artifact is llm


def test_models_pickle_with_their_parameters() -> None:
    copy = pickle.loads(pickle.dumps(Doubler(name="d", factor=5)))
    assert copy.predict({"x": 1}) == {"y": 5}


class Chooser(ModelSelector):
    def select_models(self, event: Any, available_models: list[str]) -> list[str] | None:
        return [m for m in available_models if m.startswith(self.params["prefix"])]


def test_selector_parameters_and_alias() -> None:
    assert ModelRunnerSelector is ModelSelector
    chooser = Chooser(prefix="a")
    assert chooser.select_models({}, ["a1", "b1", "a2"]) == ["a1", "a2"]
    assert chooser.to_dict()["prefix"] == "a"
    assert ModelSelector().select_models({}, ["x"]) is None


def test_spec_builds_by_class_name_path_and_instance() -> None:
    namespace = {"Doubler": Doubler}
    by_name = ModelSpec("ep", "Doubler", params={"factor": 4}).build(namespace)
    assert isinstance(by_name, Doubler) and by_name.name == "ep" and by_name.factor == 4
    by_path = ModelSpec("ep2", f"{Doubler.__module__}.Doubler").build({})
    assert isinstance(by_path, Doubler)
    instance = Doubler(name=None)
    assert ModelSpec("ep3", instance).build() is instance and instance.name == "ep3"
    assert ModelSpec("ep4", "LLModel").build().__class__ is LLModel


def test_spec_gives_paths_only_to_classes_that_take_them() -> None:
    llm = ModelSpec("l", LLModel, input_path="in", result_path="out").build()
    assert isinstance(llm, LLModel) and llm.input_path == "in" and llm.result_path == "out"
    plain = ModelSpec("p", Doubler, input_path="in").build()
    assert "input_path" not in plain.model_params


def test_spec_refuses_unknown_or_non_model_classes() -> None:
    with pytest.raises(GraphError, match="'NoSuchModel' not found"):
        ModelSpec("ep", "NoSuchModel").build({})
    with pytest.raises(GraphError, match="must be a Model subclass"):
        ModelSpec("ep", dict).build({})
    with pytest.raises(TypeError, match="failed to init model ep"):
        ModelSpec("ep", Doubler, params={"predict": 1}).build({})


def test_spec_round_trips(tmp_path: Path) -> None:
    artifact = ModelArtifact("m", model_url="mock://")
    artifact.save(tmp_path)
    spec = ModelSpec(
        "ep",
        Doubler(name="ep", factor=9),
        execution_mechanism="thread_pool",
        model_artifact=artifact,
        labels={"team": "a"},
    )
    data = spec.to_dict()
    assert data["model_class"] == f"{Doubler.__module__}.Doubler"
    again = ModelSpec.from_dict("ep", data)
    model = again.build({})
    assert isinstance(model, Doubler) and model.factor == 9
    assert again.model_artifact == artifact and again.labels == {"team": "a"}
    assert again.execution_mechanism == "thread_pool"
