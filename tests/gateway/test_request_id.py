"""Every gateway answer names its request in `X-Request-Id`: the event id the steps see (and
that `streamgraph inspect --request-id` looks for); a caller's own X-Request-Id becomes it.
On both engines, over the same HTTP surface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import streamgraph as sg
from streamgraph.gateway import gateway_app, make_app
from streamgraph.gateway.in_process_app import LocalBackend
from streamgraph.settings import Settings
from streamgraph.testing import serve


def who(event: Any) -> Any:
    if event.body.get("fail"):
        raise ValueError("asked to fail")
    event.body = {"id": event.id}
    return event


NAMES = {"who": who}


@pytest.fixture
async def client(engine: str) -> AsyncIterator[TestClient]:
    fn = sg.new_function("rid", namespace=NAMES)
    fn.set_topology("flow").to(name="who", handler="who", full_event=True).respond()
    if engine == "local":
        app = make_app(LocalBackend(fn.to_mock_server(namespace=NAMES)), Settings(), fn.name)
    else:
        server = serve(fn, engine="kafka", namespace=NAMES)
        app = gateway_app(fn.name, server.settings)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


async def test_answers_carry_the_event_id_as_x_request_id(client: TestClient) -> None:
    first = await client.post("/", json={})
    second = await client.post("/", json={})
    assert first.status == second.status == 200
    assert first.headers["X-Request-Id"] == (await first.json())["id"]
    assert second.headers["X-Request-Id"] == (await second.json())["id"]
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


async def test_a_callers_request_id_becomes_the_event_id(client: TestClient) -> None:
    resp = await client.post("/", json={}, headers={"X-Request-Id": "order-42"})
    assert resp.status == 200
    assert resp.headers["X-Request-Id"] == "order-42"
    assert await resp.json() == {"id": "order-42"}
    # a failed request names itself too, so it can be inspected
    failed = await client.post("/", json={"fail": True}, headers={"X-Request-Id": "order-43"})
    assert failed.status == 400 and failed.headers["X-Request-Id"] == "order-43"
    assert "asked to fail" in (await failed.json())["error"]


async def test_a_request_id_too_long_is_a_400(client: TestClient) -> None:
    resp = await client.post("/", json={}, headers={"X-Request-Id": "x" * 300})
    assert resp.status == 400
    assert "X-Request-Id" in (await resp.json())["error"]
