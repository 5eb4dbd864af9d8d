"""/metrics of the gateway and of a worker process: the numbers match what was sent."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from workers import WorkerFactory

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

HERE = str(Path(__file__).parent)


def double(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("bad"):
        raise ValueError("bad input")
    return {**body, "x": body["x"] * 2}


async def slow(body: Any) -> Any:
    await asyncio.sleep(1.5)
    return body


NAMES = {"double": double, "slow": slow}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: TestClient) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return parse(await resp.text())


async def test_gateway_counts_requests_statuses_and_latency(kafka_broker: Any) -> None:
    fn = sg.new_function("gw-metrics", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    settings = server.settings.model_copy(update={"max_body_bytes": 200})
    client = TestClient(TestServer(gateway_app(fn.name, settings)))
    await client.start_server()
    try:
        for i in range(5):
            assert (await client.post("/", json={"x": i})).status == 200
        for _ in range(2):
            assert (await client.post("/", json={"x": 1, "bad": True})).status == 400
        assert (await client.post("/", json={"pad": "y" * 500})).status == 413
        assert (await client.post("/other", data=b"{no", headers=JSON)).status == 400
        samples = await scrape(client)
        name, label = "streamgraph_gateway_requests_total", {"function": fn.name}
        assert value(samples, name, **label, path="/", status="200") == 5
        assert value(samples, name, **label, path="/", status="400") == 2
        assert value(samples, name, **label, path="/", status="413") == 1
        assert value(samples, name, **label, path="/other", status="400") == 1
        assert value(samples, "streamgraph_gateway_request_seconds_count", **label, path="/") == 8
        assert value(samples, "streamgraph_gateway_request_seconds_sum", **label, path="/") > 0
        assert value(samples, "streamgraph_gateway_in_flight", **label) == 0
        assert value(samples, "streamgraph_gateway_timeouts_total", **label) == 0
        # /metrics itself is not counted
        assert not any(dict(labels).get("path") == "/metrics" for _, labels in samples)
    finally:
        await client.close()
        server.close()


JSON = {"Content-Type": "application/json"}


async def test_timeouts_and_late_replies_are_counted(kafka_broker: Any) -> None:
    fn = sg.new_function("gw-late", namespace=NAMES)
    fn.set_topology("flow").to(name="s", handler="slow").respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    settings = server.settings.model_copy(update={"request_timeout_seconds": 0.5})
    client = TestClient(TestServer(gateway_app(fn.name, settings)))
    # a second gateway app in the same process: each has its own registry, so no collision
    other = TestClient(TestServer(gateway_app(fn.name, settings)))
    await client.start_server()
    await other.start_server()
    try:
        resp = await client.post("/", json={"x": 1})
        assert resp.status == 504
        label = {"function": fn.name}
        deadline = time.monotonic() + 30
        while True:  # the slow step still answers, after the caller gave up
            samples = await scrape(client)
            if value(samples, "streamgraph_gateway_late_replies_total", **label) or (
                time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.2)
        assert value(samples, "streamgraph_gateway_timeouts_total", **label) == 1
        assert value(samples, "streamgraph_gateway_late_replies_total", **label) == 1
        name = "streamgraph_gateway_requests_total"
        assert value(samples, name, **label, path="/", status="504") == 1
        untouched = await scrape(other)
        assert value(untouched, name, **label, path="/", status="504") == 0
        assert value(untouched, "streamgraph_gateway_timeouts_total", **label) == 0
    finally:
        await other.close()
        await client.close()
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = os.pathsep.join([HERE, made.env.get("PYTHONPATH", "")])
    try:
        yield made
    finally:
        made.close()


async def scrape_url(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        return parse(await resp.text())


async def test_worker_process_exports_step_metrics_and_lag(factory: WorkerFactory) -> None:
    port = free_port()
    factory.start("metrics_topology", extra_args=("--metrics-port", str(port)))
    settings = Settings(brokers=factory.brokers, topic_prefix=factory.prefix, partitions=4)
    client = TestClient(TestServer(gateway_app("counter", settings)))
    await client.start_server()
    good, bad, want = 6, 2, 3
    try:
        for i in range(good):
            resp = await client.post("/", json={"id": i, "want": want})
            assert resp.status == 200
            assert (await resp.json())["n"] == want
        for _ in range(bad):
            assert (await client.post("/", json={"want": want, "bad": True})).status == 400
        url = f"http://127.0.0.1:{port}/metrics"
        entry = factory.topic("counter", "in")
        deadline = time.monotonic() + 30
        while True:  # wait until the worker has taken every record and acked its outputs
            samples = await scrape_url(url)
            lags = {
                labels: v for (n, labels), v in samples.items() if n == "streamgraph_consumer_lag"
            }
            entry_lag = [v for labels, v in lags.items() if ("topic", entry) in labels]
            # (the lag counts from the read position, which reaches the highwater before the
            # last batch's outputs are acknowledged: wait for both)
            in_flight = value(samples, "streamgraph_in_flight", function="counter")
            quiet = entry_lag and not any(lags.values()) and in_flight == 0
            if quiet or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        fn = {"function": "counter"}
        events = "streamgraph_step_events_total"
        assert value(samples, events, **fn, step="count") == good * want + bad
        assert value(samples, events, **fn, step="enough") == good * want
        assert value(samples, events, **fn, step="done") == good
        assert value(samples, "streamgraph_step_errors_total", **fn, step="count") == bad
        assert value(samples, "streamgraph_step_errors_total", **fn, step="enough") == 0
        loops = "streamgraph_loop_iterations_total"
        assert value(samples, loops, **fn, step="count") == good * (want - 1)
        assert value(samples, loops, **fn, step="done") == 0
        seconds = "streamgraph_step_seconds_count"
        assert value(samples, seconds, **fn, step="count") == good * want + bad
        inf = value(samples, "streamgraph_step_seconds_bucket", **fn, step="count", le="+Inf")
        assert inf == good * want + bad
        assert value(samples, "streamgraph_dead_letters_total", **fn) == bad
        consumed = "streamgraph_records_consumed_total"
        assert value(samples, consumed, **fn, topic=entry) == good + bad
        highwater = sum(
            v
            for (n, labels), v in samples.items()
            if n == "streamgraph_consumer_highwater" and ("topic", entry) in labels
        )
        assert highwater == good + bad
        assert entry_lag and not any(lags.values()), f"lag left: {lags}"
        # the only worker of the group owns every partition of its topics
        owned = {
            dict(labels)["partition"]
            for (n, labels), v in samples.items()
            if n == "streamgraph_partitions_owned" and ("topic", entry) in labels and v == 1
        }
        assert owned == {"0", "1", "2", "3"}, owned
        step_topic = factory.topic("counter", "count")
        assert (
            value(samples, "streamgraph_partitions_owned", **fn, topic=step_topic, partition="3")
            == 1
        ), sorted(labels for (n, labels) in samples if n == "streamgraph_partitions_owned")
        assert value(samples, "streamgraph_in_flight", **fn) == 0
    finally:
        await client.close()
