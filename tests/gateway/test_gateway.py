"""The HTTP gateway in front of a graph whose agents run on the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka


def double(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] * 2}


def fail(body: Any) -> Any:
    raise ValueError("no good")


class Slow:
    async def do(self, body: Any) -> AsyncIterator[str]:
        for i in range(3):
            await asyncio.sleep(0.3)
            yield f"chunk {i}: {body}\n"


NAMES = {"double": double, "fail": fail, "Slow": Slow}


async def _client(
    fn: sg.ServingFunction, kafka_broker: Any, kafka_client: str, **settings: Any
) -> tuple[Any, TestClient]:
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    gateway_settings = server.settings.model_copy(
        update={**settings, "gateway_kafka_client": kafka_client}
    )
    client = TestClient(TestServer(gateway_app(fn.name, gateway_settings)))
    await client.start_server()
    return server, client


async def test_json_request_gets_the_graph_answer(kafka_broker: Any, kafka_client: str) -> None:
    fn = sg.new_function("gw", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server, client = await _client(fn, kafka_broker, kafka_client)
    try:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 200
        resp = await client.post("/", json={"x": 21})
        assert resp.status == 200
        assert await resp.json() == {"x": 42}
        bad = await client.post("/", data=b"{oops", headers={"Content-Type": "application/json"})
        assert bad.status == 400
        assert "json" in (await bad.json())["error"].lower()
    finally:
        await client.close()
        server.close()


async def test_step_errors_are_json_with_their_status(kafka_broker: Any, kafka_client: str) -> None:
    fn = sg.new_function("gw-err", namespace=NAMES)
    fn.set_topology("flow").to(name="f", handler="fail").respond()
    server, client = await _client(fn, kafka_broker, kafka_client)
    try:
        resp = await client.post("/", json={"x": 1})
        assert resp.status == 400
        assert await resp.json() == {"error": "ValueError: no good"}
    finally:
        await client.close()
        server.close()


async def test_body_over_the_limit_is_a_413(kafka_broker: Any, kafka_client: str) -> None:
    fn = sg.new_function("gw-big", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server, client = await _client(fn, kafka_broker, kafka_client, max_body_bytes=100)
    try:
        resp = await client.post("/", json={"x": 1, "pad": "y" * 500})
        assert resp.status == 413
        assert "error" in await resp.json()
    finally:
        await client.close()
        server.close()


async def test_no_reply_in_time_is_a_504(kafka_broker: Any, kafka_client: str) -> None:
    fn = sg.new_function("gw-slow", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server, client = await _client(fn, kafka_broker, kafka_client)
    # a gateway for a function whose entry topic exists but whose worker is down: the
    # request waits, then times out
    other = server.settings.model_copy(
        update={"request_timeout_seconds": 1.0, "gateway_kafka_client": kafka_client}
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(other.topic("nobody", "in"), 1, 1)])
    finally:
        await admin.close()
    lonely = TestClient(TestServer(gateway_app("nobody", other)))
    await lonely.start_server()
    try:
        resp = await lonely.post("/", json={"x": 1})
        assert resp.status == 504
        assert "no reply within" in (await resp.json())["error"]
    finally:
        await lonely.close()
        await client.close()
        server.close()


async def test_streaming_step_is_relayed_as_chunked_http(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-stream", namespace=NAMES)
    fn.set_topology("flow").to(name="s", class_name="Slow").respond()
    fn.set_streaming(enabled=True)
    server, client = await _client(fn, kafka_broker, kafka_client)
    try:
        resp = await client.post("/", data="hello", headers={"Content-Type": "text/plain"})
        assert resp.status == 200
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        loop = asyncio.get_running_loop()
        first = await resp.content.readline()
        first_at = loop.time()
        rest = await resp.content.read()
        done_at = loop.time()
        assert first == b"chunk 0: hello\n"
        assert rest == b"chunk 1: hello\nchunk 2: hello\n"
        assert done_at - first_at > 0.3  # the first chunk came before the last was produced
    finally:
        await client.close()
        server.close()


async def test_bearer_tokens_guard_everything_but_health(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-auth", namespace=NAMES)
    fn.set_topology("flow").to(name="d", handler="double").respond()
    server, client = await _client(
        fn, kafka_broker, kafka_client, gateway_tokens=SecretStr("alpha, beta")
    )
    try:
        assert (await client.get("/healthz")).status == 200
        missing = await client.post("/", json={"x": 1})
        assert missing.status == 401
        assert "bearer token" in (await missing.json())["error"]
        wrong = await client.post("/", json={"x": 1}, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await client.post("/", json={"x": 1}, headers={"Authorization": "Bearer beta"})
        assert ok.status == 200
        assert await ok.json() == {"x": 2}
    finally:
        await client.close()
        server.close()


def identity(event: Any) -> dict[str, Any]:
    return {"id": event.id, "path": event.path, "method": event.method}


async def test_mlrun_headers_reach_the_graph_through_the_gateway(
    kafka_broker: Any, kafka_client: str
) -> None:
    fn = sg.new_function("gw-mlrun", namespace={"identity": identity})
    fn.set_topology("flow").to(name="who", handler="identity", full_event=True).respond()
    server, client = await _client(fn, kafka_broker, kafka_client)
    try:
        resp = await client.put(
            "/anything",
            json={"x": 1},
            headers={"MLRUN-EVENT-ID": "order-17", "MLRUN-EVENT-PATH": "/v1/orders"},
        )
        assert resp.status == 200
        assert await resp.json() == {"id": "order-17", "path": "/v1/orders", "method": "PUT"}
    finally:
        await client.close()
        server.close()
