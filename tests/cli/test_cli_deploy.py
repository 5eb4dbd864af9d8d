"""`fn.deploy()`, `invoke()`, `stream()`, `undeploy()` with functions defined in this module."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_support import pid_alive

import streamgraph as sg
from streamgraph.deploy import Deployment
from streamgraph.errors import DeployError, InvocationError

pytestmark = pytest.mark.kafka


def double_or_fail(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("fail"):
        raise ValueError("asked to fail")
    return {**body, "x": body["x"] * 2}


class Tokens:
    async def do(self, body: str) -> AsyncIterator[str]:
        for word in body.split():
            await asyncio.sleep(0.05)
            yield f"<{word}>"


def build_streaming() -> sg.ServingFunction:
    fn = sg.new_function("deploy-stream")
    fn.set_topology("flow").to(name="tokens", class_name="Tokens").respond()
    fn.set_streaming(enabled=True)
    return fn


# a module-level function: workers import this module and take it by name
STREAMING = build_streaming()


@pytest.fixture
def brokers(kafka_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STREAMGRAPH_TOPIC_PREFIX", kafka_env["STREAMGRAPH_TOPIC_PREFIX"])
    return kafka_env["STREAMGRAPH_BROKERS"]


@pytest.fixture
def deployed() -> Iterator[list[sg.ServingFunction]]:
    functions: list[sg.ServingFunction] = []
    try:
        yield functions
    finally:
        for fn in functions:
            fn.undeploy()


def test_deploy_invoke_and_undeploy_a_function_built_in_a_test(
    brokers: str, deployed: list[sg.ServingFunction]
) -> None:
    fn = sg.new_function("deploy-double")  # built here: the workers get it as a spec file
    fn.set_topology("flow").to(name="double", handler="double_or_fail").respond()
    with pytest.raises(DeployError, match="not deployed"):
        fn.invoke("/", {"x": 1})
    deployed.append(fn)
    url = fn.deploy(brokers=brokers)
    assert fn.get_url() == url and url.startswith("http://127.0.0.1:")
    assert fn.invoke("/", {"x": 21}) == {"x": 42}
    with pytest.raises(InvocationError) as failed:
        fn.invoke("/", {"x": 1, "fail": True})
    assert failed.value.status_code == 400
    assert "ValueError: asked to fail" in str(failed.value)
    assert fn.invoke("/healthz") == {"status": "ok"}
    pids = [child.pid for child in fn._deployment.children]
    assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)  # a worker and the gateway
    fn.undeploy()
    assert not [pid for pid in pids if pid_alive(pid)]
    with pytest.raises(DeployError, match="not deployed"):
        fn.get_url()


def test_stream_reads_the_chunks_of_a_module_level_function(
    brokers: str, deployed: list[sg.ServingFunction]
) -> None:
    deployed.append(STREAMING)
    STREAMING.deploy(brokers=brokers)
    assert list(STREAMING.stream("/", "kafka streams answers")) == [
        "<kafka>",
        "<streams>",
        "<answers>",
    ]
    with pytest.raises(DeployError, match=r"read them with fn\.stream"):
        STREAMING.invoke("/", "no")
    pids = [child.pid for child in STREAMING._deployment.children]
    STREAMING.undeploy()
    assert not [pid for pid in pids if pid_alive(pid)]


def audited(body: dict[str, Any]) -> dict[str, Any]:
    """The child function's step: appends the event to the file AUDIT_LOG names."""
    with open(os.environ["AUDIT_LOG"], "ab") as log:
        log.write(orjson.dumps(body) + b"\n")
    return body


def test_deploy_starts_a_worker_per_child_function(
    brokers: str,
    kafka_env: dict[str, str],
    deployed: list[sg.ServingFunction],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit_log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG", str(audit_log))  # the workers inherit it
    fn = sg.new_function("deploy-parent")
    fn.add_child_function("deploy-audit")
    queue = f"{kafka_env['STREAMGRAPH_TOPIC_PREFIX']}.deploy-audit-queue"
    fn.set_topology("flow").to(name="tag", handler="(dict(event, tagged=True))").to(
        ">>", "q", path=queue
    ).to(name="audit", handler="audited", function="deploy-audit")
    deployed.append(fn)
    fn.deploy(brokers=brokers)
    names = sorted(child.name for child in fn._deployment.children)
    assert names == ["gateway", "worker-deploy-audit", "worker-deploy-parent"]
    # as in MLRun, the parent answers once the event is on the queue; the child runs after
    assert set(fn.invoke("/", {"n": 1})) == {"id"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        audit_log.exists() and audit_log.read_bytes().endswith(b"\n")
    ):
        time.sleep(0.2)
    assert [orjson.loads(line) for line in audit_log.read_bytes().splitlines()] == [
        {"n": 1, "tagged": True}
    ]


SCRIPT = """
import streamgraph as sg


def shout(body):
    return body.upper()


class Whisper:
    def do(self, body):
        return body.lower()


fn = sg.new_function("deploy-script")  # the workers get it as a spec naming this file
fn.set_topology("flow").to(name="shout", handler="shout").respond()


def build_inner():
    inner = sg.new_function("deploy-script-inner")
    inner.set_topology("flow").to(Whisper, name="whisper").respond()  # a class object
    return inner


if __name__ == "__main__":
    import sys

    inner = build_inner()
    fn.deploy(brokers=sys.argv[1])
    try:
        inner.deploy(brokers=sys.argv[1])
        print("ANSWER", fn.invoke("/", "quiet please"), inner.invoke("/", "LOUD"))
        print("PIDS", *[c.pid for f in (fn, inner) for c in f._deployment.children])
    finally:
        fn.undeploy()
        inner.undeploy()
"""


@pytest.mark.timeout(600)  # the script may take 240 s
def test_a_script_deploys_the_function_it_defines(
    brokers: str, kafka_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "shout_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), brokers],
        env=kafka_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ANSWER QUIET PLEASE loud" in done.stdout
    pids = [int(p) for p in done.stdout.split("PIDS")[1].split()]
    assert len(pids) == 4 and not [pid for pid in pids if pid_alive(pid)]


class Unloadable:
    """A step whose set-up fails (say, a missing model file): its worker cannot start."""

    def __init__(self) -> None:
        raise RuntimeError("the model file is missing")

    def do(self, body: Any) -> Any:
        return body


def test_a_worker_that_cannot_start_fails_deploy_and_stops_the_rest(brokers: str) -> None:
    fn = sg.new_function("deploy-broken")
    fn.set_topology("flow").to(name="load", class_name="Unloadable").respond()
    deployment = Deployment(fn, brokers=brokers)
    with pytest.raises(DeployError, match="worker-deploy-broken exited") as failed:
        deployment.start()
    assert "the model file is missing" in str(failed.value)  # the log's tail comes with it
    pids = [child.pid for child in deployment.children]
    assert len(pids) == 2 and not [pid for pid in pids if pid_alive(pid)]
