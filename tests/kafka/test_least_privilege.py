"""`streamgraph acls` on a real secured broker (issue #21 item 4): granted exactly the computed
ACLs, a user with no other right runs a function with a cycle, a streaming step, a queue to a
child function and the gateway, under at_least_once and exactly_once; one ACL fewer and it
fails. Workers are real `streamgraph worker` processes; the gateway runs in this process.

One SASL_SSL broker for the module (each JVM start costs ~5 s of CPU).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from least_privilege_topology import build_function
from workers import Worker

from streamgraph.broker import LocalKafka
from streamgraph.broker.acls import Acl
from streamgraph.engines.kafka.least_privilege import function_acls
from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings

pytestmark = pytest.mark.kafka
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def kafka() -> Iterator[LocalKafka]:
    broker = LocalKafka(security="sasl_ssl").start()
    try:
        yield broker
    finally:
        broker.stop()


class Deployment:
    """The function's two workers and its gateway, as a user with only the computed ACLs."""

    def __init__(self, kafka: LocalKafka, folder: Path, guarantee: str) -> None:
        self.kafka = kafka
        self.folder = folder
        self.user = f"lp{uuid.uuid4().hex[:8]}"
        self.prefix = f"lp{uuid.uuid4().hex[:8]}"
        self.client_env = kafka.client_env(user=self.user)
        self.password = self.client_env["STREAMGRAPH_KAFKA_SASL_PASSWORD"]
        self.sink = folder / "sink.jsonl"
        self.env = {
            **os.environ,
            **self.client_env,
            "STREAMGRAPH_TOPIC_PREFIX": self.prefix,
            "STREAMGRAPH_PROCESSING_GUARANTEE": guarantee,
            "STREAMGRAPH_PARTITIONS": "1",
            "STREAMGRAPH_STATE_DIR": str(folder / "state"),
            "LP_SINK_PATH": str(self.sink),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        self.settings = Settings(topic_prefix=self.prefix, processing_guarantee=guarantee)
        self.acls = function_acls(build_function(self.settings), self.settings, f"User:{self.user}")
        self.workers: list[Worker] = []

    def start_workers(self, ready: bool = True) -> None:
        for function in (None, "lp-sink"):
            name = function or "lp"
            worker = Worker(
                "least_privilege_topology", self.env, self.folder / name, name, function
            )
            self.workers.append(worker)
        if ready:
            for worker in self.workers:
                worker.wait_ready(60)

    def gateway_settings(self, monkeypatch: pytest.MonkeyPatch) -> Settings:
        for key, value in self.client_env.items():
            monkeypatch.setenv(key, value)
        return Settings(topic_prefix=self.prefix, request_timeout_seconds=20)

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.workers)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def deploy(kafka: LocalKafka, tmp_path: Path) -> Iterator[Any]:
    made: list[Deployment] = []

    def make(guarantee: str) -> Deployment:
        made.append(Deployment(kafka, tmp_path / guarantee, guarantee))
        return made[-1]

    try:
        yield make
    finally:
        for deployment in made:
            deployment.stop()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_the_computed_acls_are_enough(
    deploy: Any, guarantee: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    d = deploy(guarantee)
    d.kafka.grant(d.acls)
    started = time.monotonic()
    d.start_workers()
    client = TestClient(TestServer(gateway_app("lp", d.gateway_settings(monkeypatch))))
    await client.start_server()
    try:
        for want in (1, 3):
            resp = await client.post("/", json={"want": want})
            text = await resp.text()
            assert resp.status == 200, (text, d.logs()[-3000:])
            assert text == "".join(f"chunk {i} n={want}\n" for i in range(3))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_sunk(d.sink)) < 2:
            await _sleep(0.2)
        assert sorted(r["n"] for r in _sunk(d.sink)) == [1, 3], d.logs()[-3000:]
    finally:
        await client.close()
        d.stop()
    print(f"{guarantee}: served in {time.monotonic() - started:.1f} s")
    assert "Authorization" not in d.logs()
    assert d.password not in d.logs() + caplog.text


def test_without_the_group_read_the_worker_stops_naming_the_group(
    deploy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One ACL fewer than `streamgraph acls` prints: the worker says which, and exits."""
    d = deploy("at_least_once")
    group = Acl(f"User:{d.user}", "group", f"{d.prefix}.lp", "read")
    assert group in d.acls
    log = _refused_parent(d, [group], f"group {d.prefix}.lp")
    assert "Ready" not in log
    assert d.password not in d.logs() + caplog.text


def test_without_the_transactional_id_acl_an_exactly_once_worker_stops_naming_it(
    deploy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    d = deploy("exactly_once")
    ids = [acl for acl in d.acls if acl.resource == "transactional_id"]
    assert ids
    _refused_parent(d, ids, f"transactional id {d.prefix}.lp|")
    assert d.password not in d.logs() + caplog.text


def _refused_parent(d: Any, withheld: list[Acl], resource: str) -> str:
    """Start the workers with every computed ACL but `withheld`: the parent worker must exit 1
    within 30 s, with one line naming `resource` and the principal. Its log."""
    d.kafka.grant([acl for acl in d.acls if acl not in withheld])
    started = time.monotonic()
    d.start_workers(ready=False)
    parent = d.workers[0]
    try:
        code = parent.process.wait(45)
    except subprocess.TimeoutExpired:
        code = None
    waited = time.monotonic() - started
    log: str = parent.log()
    assert code == 1, log[-3000:]
    assert waited < 30, waited
    refusal = [line for line in log.splitlines() if resource in line]
    assert refusal and f"User:{d.user}" in refusal[0], log[-3000:]
    return log


def _sunk(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
