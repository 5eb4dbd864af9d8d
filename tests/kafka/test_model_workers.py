"""Shared dedicated_process models in model worker processes, on the real broker.

A step worker (`streamgraph worker model_topology`) and a model worker (`... --model doubler`)
are separate processes; the proxies' calls go through `<prefix>.models.model.doubler.req`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import model_topology
import orjson
import pytest
from workers import Worker, WorkerFactory, body, collect, produce

import streamgraph as sg
from streamgraph.engines.kafka import dedicated_models
from streamgraph.engines.kafka.model_worker import ModelService
from streamgraph.engines.kafka.remote_model import decode_error, encode_error
from streamgraph.errors import StreamgraphError
from streamgraph.settings import Settings

HERE = Path(__file__).parent


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = os.pathsep.join([str(HERE), made.env.get("PYTHONPATH", "")])
    made.env["STREAMGRAPH_REQUEST_TIMEOUT_SECONDS"] = "90"  # a model worker restart fits in
    try:
        yield made
    finally:
        made.close()


def _model_worker(factory: WorkerFactory) -> Worker:
    argv = [sys.executable, "-m", "streamgraph.cli", "worker", "model_topology", "--model"]
    return factory.start("model_topology", argv=[*argv, "doubler", "-l", "info"])


def test_dedicated_models_names_the_model_workers_a_function_needs() -> None:
    assert dedicated_models(model_topology.function) == ["doubler"]
    fn = sg.new_function("local-models")
    graph = fn.set_topology("flow")
    assert isinstance(graph, sg.RootFlowStep)
    graph.add_shared_model("m", model_class=model_topology.Doubler, execution_mechanism="naive")
    assert dedicated_models(fn) == []
    with pytest.raises(StreamgraphError, match="no shared model 'm' with execution_mechanism"):
        ModelService(fn, "m", Settings())


@pytest.mark.kafka
def test_requests_go_through_the_model_worker_and_survive_its_restart(
    factory: WorkerFactory,
) -> None:
    total = 400
    step = factory.start("model_topology")
    first = _model_worker(factory)
    records = [(str(n).encode(), orjson.dumps({"n": n}), []) for n in range(total)]
    asyncio.run(produce(factory.brokers, factory.topic("models", "in"), records))
    out = factory.topic("models", "out")
    early = asyncio.run(collect(factory.brokers, out, total // 4, 120))
    assert len(early) < total, "the model worker must die while requests are being served"
    first.kill()
    second = _model_worker(factory)
    done = asyncio.run(collect(factory.brokers, out, total, 240, key_of=lambda m: m.key))
    answers = {int(m.key): body(m) for m in done}  # the record key is the event id
    assert sorted(answers) == list(range(total)), step.log()[-3000:]
    pids = set()
    for n, answer in answers.items():
        parity = "even" if n % 2 == 0 else "odd"
        result = answer[f"{parity}_endpoint"]  # the runner answers {endpoint: result}
        assert result["n2"] == 2 * n
        assert (result["endpoint"], result["artifact"]) == (
            f"{parity}_endpoint",
            f"{parity}-artifact",
        )
        pids.add(result["pid"])
    assert step.pid not in pids, "no prediction may run in the step worker"
    assert {first.pid, second.pid} <= pids, "both model workers answered"
    requests = factory.topic("models", "model.doubler.req")
    assert len(asyncio.run(collect(factory.brokers, requests, total, 60))) >= total
    assert not asyncio.run(collect(factory.brokers, factory.topic("models", "dlq"), 1, 3))


def test_a_model_error_comes_back_as_its_own_class() -> None:
    try:
        raise KeyError("n")
    except KeyError as exc:
        reply = orjson.loads(orjson.dumps(encode_error(exc)))
    rebuilt = decode_error(reply, "the model worker")
    assert isinstance(rebuilt, KeyError)
    assert "Raised in the model worker" in "".join(rebuilt.__notes__)
    odd = {"ok": False, "type": ["nowhere", "Gone"], "message": "lost", "traceback": ""}
    assert str(decode_error(odd, "x")) == "Gone: lost"
