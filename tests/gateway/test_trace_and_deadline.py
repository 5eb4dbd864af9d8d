"""Through the HTTP gateway (Kafka and in-process backends): the request's span heads the trace,
and a caller's X-Request-Timeout is its deadline (504, and no step runs after it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import streamgraph as sg
from streamgraph import testing
from streamgraph.core import tracing
from streamgraph.gateway import gateway_app
from streamgraph.gateway.in_process_app import local_gateway_app
from streamgraph.settings import Settings
from streamgraph.testing import serve

ran: list[Any] = []


async def slow(body: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(body.get("sleep", 0))
    return body


def rec(body: dict[str, Any]) -> dict[str, Any]:
    ran.append(body)
    return body


NAMES = {"slow": slow, "rec": rec}
Client = Callable[[sg.ServingFunction], Awaitable[TestClient]]


@pytest.fixture(params=["local", "kafka"])
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """A gateway client in front of the function, on either backend."""
    clients: list[TestClient] = []

    async def start(fn: sg.ServingFunction) -> TestClient:
        if request.param == "kafka":
            broker = request.getfixturevalue("kafka_broker")
            server = serve(fn, engine="kafka", brokers=broker.bootstrap_servers, namespace=NAMES)
            app = gateway_app(fn.name, server.settings)
        else:
            app = local_gateway_app(fn, Settings(request_timeout_seconds=30.0))
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    if request.param == "kafka":
        request.applymarker(pytest.mark.kafka)
    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        testing.close_all()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_exporter(exporter)
    try:
        yield exporter
    finally:
        tracing.disable()


def three_steps() -> sg.ServingFunction:
    fn = sg.new_function("gwtrace", namespace=NAMES)
    fn.set_topology("flow").to(name="one", handler="slow").to(name="two", handler="slow").to(
        name="three", handler="rec"
    ).respond()
    return fn


async def test_the_gateway_span_heads_the_trace(
    gateway: Client, spans: InMemorySpanExporter
) -> None:
    client = await gateway(three_steps())
    resp = await client.post("/", json={"x": 1})
    assert resp.status == 200, await resp.text()
    found = spans.get_finished_spans()
    (root,) = [s for s in found if s.parent is None]
    assert root.name == "POST /" and root.kind.name == "SERVER"
    assert root.attributes and root.attributes["http.response.status_code"] == 200
    assert {s.context.trace_id for s in found} == {root.context.trace_id}
    steps = sorted((s for s in found if s.name.startswith("step ")), key=lambda s: s.start_time)
    assert [s.name for s in steps] == ["step one", "step two", "step three"]
    by_id = {s.context.span_id: s for s in found}
    for span in steps:  # every step descends from the gateway's span
        parent = span
        while parent.parent is not None:
            parent = by_id[parent.parent.span_id]
        assert parent is root


async def test_a_callers_timeout_is_a_504_and_stops_the_flow(gateway: Client) -> None:
    ran.clear()
    client = await gateway(three_steps())
    # warm up first: the broker must take the late request within its 0.2 s (a first send also
    # fetches the entry topic's metadata; under load that alone can pass 0.2 s: 503, not 504)
    assert (await client.post("/", json={"id": "warm"})).status == 200
    ran.clear()
    started = time.monotonic()
    resp = await client.post(
        "/", json={"id": "late", "sleep": 0.5}, headers={"X-Request-Timeout": "0.2"}
    )
    assert resp.status == 504
    assert "GatewayTimeoutError" in (await resp.json())["error"]
    assert time.monotonic() - started < 5.0  # the caller's 0.2 s, not the gateway's 30 s
    ok = await client.post("/", json={"id": "ok"})
    assert resp.status == 504 and ok.status == 200
    await asyncio.sleep(0.6)  # the late request's `one` and `two` have finished by now
    assert [body["id"] for body in ran] == ["ok"]
    bad = await client.post("/", json={}, headers={"X-Request-Timeout": "later"})
    assert bad.status == 400
    assert "X-Request-Timeout must be seconds" in (await bad.json())["error"]
