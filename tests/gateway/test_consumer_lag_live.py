"""A worker's `streamgraph_consumer_lag`: N records it has not taken yet are a lag of N, and
once it took them, 0 (highwater minus its position, not its committed offset)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from workers import WorkerFactory

from streamgraph.broker.probe import free_ports
from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings

HERE = Path(__file__).parent
N = 5


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = os.pathsep.join([str(HERE), made.env.get("PYTHONPATH", "")])
    made.env["GATE"] = str(tmp_path / "gate")
    try:
        yield made
    finally:
        (tmp_path / "gate").unlink(missing_ok=True)
        made.close()


async def entry_lag(url: str, topic: str) -> float | None:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        text = await resp.text()
    lags = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "streamgraph_consumer_lag" and s.labels["topic"] == topic
    ]
    return sum(lags) if lags else None


async def wait_for_lag(url: str, topic: str, want: float, timeout: float = 30) -> float | None:
    deadline = time.monotonic() + timeout
    while True:
        lag = await entry_lag(url, topic)
        if lag == want or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_records_not_taken_are_lag_and_taken_ones_are_not(
    factory: WorkerFactory, tmp_path: Path
) -> None:
    port = free_ports(1)[0]
    factory.start("gate_topology", extra_args=("--metrics-port", str(port)))
    url, entry = f"http://127.0.0.1:{port}/metrics", factory.topic("gated", "in")
    settings = Settings(brokers=factory.brokers, topic_prefix=factory.prefix, partitions=4)
    client = TestClient(TestServer(gateway_app("gated", settings)))
    await client.start_server()
    gate, held = tmp_path / "gate", tmp_path / "gate.held"
    try:
        assert (await client.post("/", json={"i": -1})).status == 200  # every partition fetched
        assert await wait_for_lag(url, entry, 0) == 0
        gate.touch()
        first = asyncio.ensure_future(client.post("/", json={"i": 0}))
        deadline = time.monotonic() + 30
        while not held.exists():  # the worker took it and holds its loop in the step
            assert time.monotonic() < deadline, "the step never ran"
            await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(client.post("/", json={"i": i})) for i in range(1, N + 1)]
        assert await wait_for_lag(url, entry, N) == N  # produced, not taken
        gate.unlink()
        for resp in await asyncio.gather(first, *rest):
            assert resp.status == 200
        assert await wait_for_lag(url, entry, 0) == 0  # taken: caught up
    finally:
        gate.unlink(missing_ok=True)
        await client.close()
