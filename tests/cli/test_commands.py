"""`streamgraph describe`, `plot`, `topics` and `send` on the cyclic topology."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from cli_support import expected_cyclic_answers, same_answer, streamgraph

import topologies.cyclic
from streamgraph.commands.demo import demo_requests
from streamgraph.commands.describe import describe_graph
from streamgraph.commands.topics import kafka_graphs
from streamgraph.engines.kafka.app import KafkaGraph
from streamgraph.settings import Settings


def _cli(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    done = subprocess.run(
        streamgraph(*args), env=env, input=stdin, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _cyclic_graph(settings: Settings) -> KafkaGraph:
    return KafkaGraph(topologies.cyclic.function, settings)


def test_describe_names_every_step_its_topics_and_outlets() -> None:
    out = _cli("describe", "topologies.cyclic")
    graph = _cyclic_graph(Settings())
    assert f"entry topic   {graph.topology.entry}" in out
    for name, step in graph.plan.steps.items():
        assert f"step {name}: " in out
        reads = ", ".join(graph.topology.sources[name])
        assert f"step {name}: " in out.split(f"reads    {reads}")[0]
        block = out.split(f"step {name}: ")[1].split("  step ")[0]
        assert f"outlets  {', '.join(step.outlets) or '-'}" in block
    assert "step evaluation-loop: class ChoiceHandler" in out
    assert "step output: handler responder [responds]" in out
    # what each step writes: its outlets' topics; the responder the reply and output topics
    blocks = _step_blocks(out)
    assert "writes   sg.cyclic-function.generator\n" in blocks["preprocess"]
    both = "writes   sg.cyclic-function.generator, sg.cyclic-function.output\n"
    assert both in blocks["evaluation-loop"]
    answer = "writes   the caller's reply topic, sg.cyclic-function.out\n"
    assert answer in blocks["output"]
    assert answer in blocks["handle-error"]
    for name in ("preprocess", "generator", "evaluator", "evaluation-loop", "output"):
        assert "errors   -> handle-error (sg.cyclic-function.handle-error)" in blocks[name]
    assert "errors   -> dead letters (sg.cyclic-function.dlq)" in blocks["handle-error"]


def _step_blocks(out: str) -> dict[str, str]:
    """`describe`'s lines of each step, by step name."""
    blocks = {}
    for block in out.split("  step ")[1:]:
        name, _, rest = block.partition(": ")
        blocks[name] = rest.split("\n  fused ")[0].split("\nfunction ")[0]
    return blocks


def test_describe_says_what_steps_without_a_responder_queues_and_fused_steps_write() -> None:
    import topologies.pipeline
    import topologies.queue_child

    settings = Settings()
    queue_child = [
        "\n".join(describe_graph(graph))
        for graph in kafka_graphs(topologies.queue_child.function, settings)
    ]
    parent, child = (_step_blocks(text + "\n") for text in queue_child)
    # no responder: the caller gets {"id"} from the first step, the last results go to `out`
    ack = 'the caller\'s reply topic ({"id"} as the event arrives)'
    assert f"writes   {ack}, sg.queue-child.ExtendEvent\n" in parent["PrintEvent"]
    queue = "writes   sg.queue-child.output-stream, sg.queue-child.out\n"
    assert queue in parent["OutputStream"]  # the queue's own topic, not its outlets'
    assert "errors   -> dead letters (sg.queue-child.dlq)" in parent["PrintEvent"]
    assert f"writes   {ack}, sg.log-ds.PrintEventLog\n" in child["Log-ds"]
    assert "writes   sg.log-ds.out\n" in child["PrintEventLog"]

    fused = KafkaGraph(topologies.pipeline.function, Settings(fuse_steps=True))
    blocks = _step_blocks("\n".join(describe_graph(fused)) + "\n")
    assert "writes   (fused: label runs in this agent)\n" in blocks["score"]
    assert "writes   sg.pipeline.out\n" in blocks["label"]


def test_describe_names_a_step_built_from_an_instance_and_the_model_workers() -> None:
    import topologies.shared_llm

    [graph] = kafka_graphs(topologies.shared_llm.function, Settings())
    text = "\n".join(describe_graph(graph))
    assert "step model_runner_step: class streamgraph.serving.model_runner.ModelRunnerStep" in text
    assert "model worker  shared_llm: calls on sg.open-ai-tut.model.shared_llm.req" in text


def test_describe_refuses_an_unknown_topology() -> None:
    done = subprocess.run(
        streamgraph("describe", "topologies.nope"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "cannot import 'topologies.nope'" in done.stderr


def test_plot_writes_a_picture_of_every_step(tmp_path: Path) -> None:
    target = tmp_path / "graph.svg"
    _cli("plot", "topologies.cyclic", "-o", str(target))
    svg = target.read_text()
    assert "<svg" in svg
    for name in topologies.cyclic.function.graph.steps:  # type: ignore[union-attr]
        assert f"<title>{name.replace('-', '&#45;')}</title>" in svg  # a node per step


def test_every_subcommand_has_help() -> None:
    for command in (
        "run",
        "worker",
        "gateway",
        "topics",
        "send",
        "describe",
        "plot",
        "acls",
        "manifests",
    ):
        assert "Usage: " in _cli(command, "--help")
    assert "Usage: " in _cli("kafka", "start", "--help")
    assert "Usage: " in _cli("dlq", "replay", "--help")


@pytest.mark.kafka
def test_topics_creates_and_lists_the_topology_topics(kafka_env: dict[str, str]) -> None:
    out = _cli("topics", "topologies.cyclic", env=kafka_env)
    settings = Settings(
        brokers=kafka_env["STREAMGRAPH_BROKERS"], topic_prefix=kafka_env["STREAMGRAPH_TOPIC_PREFIX"]
    )
    wanted = _cyclic_graph(settings).topology.all_topics()
    for topic in wanted:
        assert f"{topic}  ({settings.partitions} partitions)" in out

    async def existing() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.brokers)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    assert set(wanted) <= asyncio.run(existing())


@pytest.mark.kafka
def test_send_prints_an_answer_per_json_line(kafka_env: dict[str, str], cyclic_worker: Any) -> None:
    bodies = [r.body for r in demo_requests(topologies.cyclic)]
    lines = "\n".join(orjson.dumps(b).decode() for b in bodies)
    out = _cli("send", "topologies.cyclic", env=kafka_env, stdin=lines + "\n\n")
    answers = [orjson.loads(line) for line in out.splitlines()]
    by_line = {a["line"]: (a["status"], same_answer(a["answer"])) for a in answers}
    assert by_line == {i: (200, a) for i, a in enumerate(expected_cyclic_answers(), 1)}


def test_send_refuses_a_line_that_is_not_json() -> None:
    done = subprocess.run(
        streamgraph("send", "topologies.cyclic"),
        input='{"topic": "a"}\n{oops\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "line 2 is not JSON" in done.stderr
