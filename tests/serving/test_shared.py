"""Shared models: declared once, loaded ONCE, reached by proxies in several ModelRunnerSteps."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import streamgraph as sg
from streamgraph.errors import GraphError
from streamgraph.serving.artifacts import Artifact, LLMPromptArtifact, ModelArtifact
from streamgraph.serving.endpoints import EndpointRegistry, ModelEndpointCreationStrategy
from streamgraph.serving.llm import LLModel
from streamgraph.serving.model import Model
from streamgraph.serving.model_runner import ModelRunnerStep
from streamgraph.serving.shared import SharedModelRegistry
from streamgraph.testing import serve


class Context:
    def __init__(self, registry: SharedModelRegistry | None, **attrs: Any) -> None:
        self.logger = logging.getLogger("test")
        self.shared_models = registry
        self.endpoints: Any = None
        self.namespace: dict[str, Any] = {}
        self.streaming = False
        self.__dict__.update(attrs)

    def get_param(self, key: str, default: Any = None) -> Any:
        return default


class Counted(Model):
    """Logs each load (pid) to a file, so loads in any process can be counted."""

    def load(self) -> None:
        with open(self.get_param("load_log"), "a") as f:
            f.write(f"{os.getpid()}\n")

    def predict(self, body: Any, **kw: Any) -> Any:
        return {"pid": os.getpid(), "x": body["x"]}


class CountedLLM(LLModel):
    def load(self) -> None:
        with open(self.get_param("load_log"), "a") as f:
            f.write(f"{os.getpid()}\n")


def loads(log: Path) -> list[int]:
    return [int(p) for p in log.read_text().split()]


@pytest.fixture
def registry() -> Iterator[SharedModelRegistry]:
    registry = SharedModelRegistry()
    registry.configure_shared_pool_resource(max_processes=2, max_threads=4)
    yield registry
    registry.close()


@pytest.fixture
def steps() -> Iterator[list[ModelRunnerStep]]:
    made: list[ModelRunnerStep] = []
    yield made
    for step in made:
        step.close()


def start(
    steps: list[ModelRunnerStep], step: ModelRunnerStep, registry: SharedModelRegistry | None
) -> ModelRunnerStep:
    steps.append(step)
    step.context = Context(registry)
    step.post_init()
    return step


def test_registry_refusals(registry: SharedModelRegistry) -> None:
    with pytest.raises(GraphError) as info:
        registry.add("s", Counted, execution_mechanism="shared_executor")
    assert str(info.value) == "Cannot add a shared model with execution mechanism 'shared_executor'"
    registry.add("s", Counted)
    with pytest.raises(GraphError, match=r"Model with name s already exists in this graph\."):
        registry.add("s", Counted)
    registry.add("s", Counted, execution_mechanism="thread_pool", override=True)
    assert registry.spec("s").execution_mechanism == "thread_pool"
    with pytest.raises(ValueError, match="Execution mechanism 'x' is invalid"):
        registry.add("t", Counted, execution_mechanism="x")
    with pytest.raises(GraphError, match=r"Inconsistent name for the added model\."):
        registry.add("t", Counted(name="other"))
    with pytest.raises(GraphError, match="Can't find shared model named nope"):
        registry.get("nope")
    with pytest.raises(RuntimeError, match="call load_all"):
        registry.get("s")


@pytest.mark.parametrize("mechanism", ["naive", "dedicated_process"])
async def test_three_proxies_in_two_steps_load_the_shared_model_once(
    registry: SharedModelRegistry,
    steps: list[ModelRunnerStep],
    tmp_path: Path,
    mechanism: str,
) -> None:
    log = tmp_path / "loads.log"
    registry.add("shared", Counted, execution_mechanism=mechanism, load_log=str(log))
    registry.load_all()
    first = ModelRunnerStep(name="first")
    first.add_shared_model_proxy("p1", shared_model_name="shared")
    first.add_shared_model_proxy("p2", shared_model_name="shared")
    second = ModelRunnerStep(name="second")
    second.add_shared_model_proxy("p3", shared_model_name="shared")
    start(steps, first, registry)
    start(steps, second, registry)
    registry.load_all()  # idempotent
    out1, out2 = await first.do({"x": 1}), await second.do({"x": 2})
    assert loads(log) == [out1["p1"]["pid"]]
    assert out1["p1"]["pid"] == out1["p2"]["pid"] == out2["pid"]
    assert (out2["pid"] == os.getpid()) is (mechanism == "naive")


async def test_a_shared_llm_applies_each_proxys_prompt(
    registry: SharedModelRegistry, steps: list[ModelRunnerStep], tmp_path: Path
) -> None:
    """The guide's example: one shared LLM in a dedicated process, finance and sport proxies."""
    log = tmp_path / "loads.log"
    model_artifact = ModelArtifact("llm", model_url="scripted://echo")
    model_artifact.save(tmp_path)

    def prompt(topic: str) -> LLMPromptArtifact:
        return LLMPromptArtifact(
            f"{topic}-prompt",
            model_artifact,
            prompt_template=[
                {"role": "system", "content": f"You are a {topic} expert."},
                {"role": "user", "content": f"{topic.title()} question: {{question}}"},
            ],
            prompt_legend={"question": {"field": "q", "description": "what the user asks"}},
        )

    registry.add(
        "shared_llm",
        CountedLLM,
        execution_mechanism="dedicated_process",
        model_artifact=model_artifact,
        result_path="outputs",
        load_log=str(log),
    )
    endpoints = EndpointRegistry()
    step = ModelRunnerStep(name="model_runner_step")
    strategy = ModelEndpointCreationStrategy.OVERWRITE
    step.add_shared_model_proxy(
        "finance_endpoint",
        model_artifact=prompt("finance"),
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=strategy,
    )
    step.add_shared_model_proxy(
        "sport_endpoint",
        model_artifact=prompt("sport"),
        shared_model_name="shared_llm",
        model_endpoint_creation_strategy=strategy,
    )
    steps.append(step)
    step.context = Context(registry, endpoints=endpoints)
    step.post_init()  # loads the registry when the engine has not yet
    out = await step.do({"q": "what now?"})
    assert out["finance_endpoint"]["outputs"]["answer"] == "Finance question: what now?"
    assert out["sport_endpoint"]["outputs"]["answer"] == "Sport question: what now?"
    assert len(loads(log)) == 1 and loads(log)[0] != os.getpid()
    finance = endpoints.get("finance_endpoint")
    assert finance is not None
    assert finance.shared_model == "shared_llm" and finance.model_class == "CountedLLM"
    assert finance.strategy is strategy and finance.stats.requests == 1


async def test_a_proxy_finds_its_shared_model_by_artifact(
    registry: SharedModelRegistry, steps: list[ModelRunnerStep], tmp_path: Path
) -> None:
    llm = ModelArtifact("llm", model_url="scripted://echo")
    llm.save(tmp_path)
    registry.add("by_artifact", model_artifact=llm)  # no class: an LLModel
    prompt = LLMPromptArtifact("p", llm, prompt_template=[{"role": "user", "content": "{w}!"}])
    step = ModelRunnerStep(name="s")
    step.add_shared_model_proxy("ep", model_artifact=prompt)
    start(steps, step, registry)
    out = await step.do({"w": "hi"})
    assert out["outputs"]["answer"] == "hi!"
    assert step.proxies() == {"ep": "by_artifact"}


def test_check_proxies_names_every_missing_shared_model() -> None:
    step = ModelRunnerStep(name="s")
    step.add_shared_model_proxy("a", shared_model_name="gpt")
    step.add_shared_model_proxy("b", shared_model_name="claude")
    step.add_shared_model_proxy("c", shared_model_name="gpt")
    step.check_proxies(["gpt", "claude"])
    with pytest.raises(GraphError) as info:
        step.check_proxies(["claude"])
    assert str(info.value) == "The following shared models are not defined in the graph: ['gpt']."
    with pytest.raises(GraphError, match=r"\['gpt', 'claude'\]"):
        step.check_proxies([])


def test_check_proxies_with_the_registry_matches_artifacts(registry: SharedModelRegistry) -> None:
    one, two = ModelArtifact("one", model_url="mock://"), ModelArtifact("two", model_url="mock://")
    registry.add("s1", model_artifact=one)
    registry.add("s2", model_artifact=two)
    mismatch = ModelRunnerStep(name="m")
    mismatch.add_shared_model_proxy("ep", model_artifact=one, shared_model_name="s2")
    with pytest.raises(GraphError, match="ep shared runnable name mismatch: expected s1, got s2"):
        mismatch.check_proxies(registry)
    unknown = ModelRunnerStep(name="u")
    unknown.add_shared_model_proxy("ep", model_artifact=ModelArtifact("three"))
    with pytest.raises(GraphError, match="model three is not in the shared models"):
        unknown.check_proxies(registry)


def test_a_proxy_without_a_registry_is_refused_at_start() -> None:
    step = ModelRunnerStep(name="s")
    step.add_shared_model_proxy("ep", shared_model_name="shared")
    step.context = Context(None)
    with pytest.raises(GraphError, match=r"not defined in the graph: \['shared'\]"):
        step.post_init()


def test_a_proxy_needs_a_name_or_an_artifact() -> None:
    with pytest.raises(GraphError, match="give shared_model_name or a model_artifact"):
        ModelRunnerStep(name="s").add_shared_model_proxy("ep")


async def test_closing_a_step_leaves_the_shared_model_running(
    steps: list[ModelRunnerStep], tmp_path: Path
) -> None:
    registry = SharedModelRegistry()
    registry.add(
        "shared", Counted, execution_mechanism="dedicated_process", load_log=str(tmp_path / "l")
    )
    step = ModelRunnerStep(name="s")
    step.add_shared_model_proxy("ep", shared_model_name="shared")
    start(steps, step, registry)
    pid = (await step.do({"x": 1}))["pid"]
    step.close()
    os.kill(pid, 0)  # still running: the registry owns it
    registry.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_from_the_graphs_specs_and_round_trip(tmp_path: Path) -> None:
    llm = ModelArtifact("llm", model_url="scripted://")
    llm.save(tmp_path)
    specs = {
        "shared_llm": {
            "model_class": "LLModel",
            "execution_mechanism": "thread_pool",
            "model_artifact": llm,
            "input_path": None,
            "result_path": "outputs",
            "temperature": 0.5,
        }
    }
    registry = SharedModelRegistry.from_specs(specs)
    data = registry.to_dict()
    assert data["shared_llm"]["model_artifact"] == str(tmp_path / "llm.json")
    assert data["shared_llm"]["model_parameters"] == {"temperature": 0.5}
    again = SharedModelRegistry.from_dict(data)
    assert again.to_dict() == data
    assert again.find_by_artifact(str(tmp_path / "llm.json")) == "shared_llm"


# -- plain artifact keys (MLRun resolves artifact URIs lazily), on every engine -----------------
class KeyReader(Model):
    """Answers with the artifact keys it sees: its own, and the calling proxy's."""

    def predict(self, body: Any, **kw: Any) -> Any:
        return body

    def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        own = self.model_artifact.key if self.model_artifact is not None else None
        return {"own": own, "proxy": getattr(artifact, "key", None), "x": body["x"]}


def keyed_graph(mechanism: str = "naive") -> tuple[sg.ServingFunction, ModelRunnerStep]:
    fn = sg.new_function("keys")
    graph = fn.set_topology("flow")
    assert isinstance(graph, sg.RootFlowStep)
    graph.add_shared_model(
        "reader", model_class=KeyReader, execution_mechanism=mechanism, model_artifact="reader-key"
    )
    runner = ModelRunnerStep(name="runner")
    graph.to(runner).respond()
    return fn, runner


@pytest.mark.parametrize("mechanism", ["naive", "dedicated_process"])
def test_plain_keys_reach_the_shared_model_and_its_proxies(engine: str, mechanism: str) -> None:
    fn, runner = keyed_graph(mechanism)
    # by name, with a key of its own; and by the shared model's key alone
    runner.add_shared_model_proxy("named", model_artifact="named-key", shared_model_name="reader")
    runner.add_shared_model_proxy("matched", model_artifact="reader-key")
    answer = serve(fn, engine=engine).test(body={"x": 1})
    assert answer == {
        "named": {"own": "reader-key", "proxy": "named-key", "x": 1},
        "matched": {"own": "reader-key", "proxy": "reader-key", "x": 1},
    }


def test_a_proxy_key_matching_no_shared_model_is_refused_when_built(engine: str) -> None:
    fn, runner = keyed_graph()
    runner.add_shared_model_proxy("lost", model_artifact="other-key")
    with pytest.raises(GraphError, match="model other-key is not in the shared models"):
        serve(fn, engine=engine)


def test_a_shared_model_artifact_naming_a_missing_file_is_refused_when_built(
    engine: str, tmp_path: Path
) -> None:
    fn = sg.new_function("missing")
    graph = fn.set_topology("flow")
    assert isinstance(graph, sg.RootFlowStep)
    missing = str(tmp_path / "reader.json")
    graph.add_shared_model(
        "reader", model_class=KeyReader, execution_mechanism="naive", model_artifact=missing
    )
    runner = ModelRunnerStep(name="runner")
    runner.add_shared_model_proxy("ep", model_artifact="ep-key", shared_model_name="reader")
    graph.to(runner).respond()
    with pytest.raises(
        GraphError, match=r"Shared model 'reader': Artifact not found: .*reader\.json"
    ):
        serve(fn, engine=engine)


@pytest.mark.parametrize("ref", ["models/ep-key", "ep-key.json", "file:///nowhere/ep-key"])
def test_a_proxy_artifact_naming_a_missing_file_is_refused(ref: str) -> None:
    runner = ModelRunnerStep(name="runner")
    with pytest.raises(
        GraphError, match=r"Artifact not found: .* names a file that does not exist"
    ):
        runner.add_shared_model_proxy("ep", model_artifact=ref, shared_model_name="reader")


def test_a_function_with_shared_model_proxies_survives_its_spec_file(tmp_path: Path) -> None:
    # a proxy has no model class of its own; to_dict() used to fail on it, so a deployed
    # function with proxies could not be written to the spec file its workers load
    import topologies.shared_llm
    from streamgraph.locate import load_function
    from streamgraph.reference import write_spec

    function = topologies.shared_llm.function
    loaded = load_function(str(write_spec(function, tmp_path)))
    assert loaded.graph.to_dict() == function.graph.to_dict()
    question = {"question": "Is gold a good hedge against inflation?"}
    answers = []
    for served in (function, loaded):
        server = served.to_mock_server()
        answers.append(server.test(body=question))
        server.wait_for_completion()
    assert answers[0] == answers[1]
    assert "Finance desk" in str(answers[1])
