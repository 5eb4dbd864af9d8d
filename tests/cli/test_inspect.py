"""`streamgraph inspect FUNCTION --request-id ID` on a real broker: a request sent through the
gateway is found on every step topic, in order; an id nobody sent says so with exit status 1."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

CLI_TIMEOUT = 60.0  # seconds one `streamgraph inspect` may take


def double(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] * 2}


def plus_one(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "x": body["x"] + 1}


def tag(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "tagged": True}


NAMES = {"double": double, "plus_one": plus_one, "tag": tag}


async def inspect(settings: Any, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "STREAMGRAPH_TOPIC_PREFIX": settings.topic_prefix}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamgraph.cli",
        "inspect",
        *args,
        "--brokers",
        settings.brokers,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"streamgraph inspect {args} took over {CLI_TIMEOUT} s") from None
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_inspect_prints_a_request_on_every_step_topic_in_order(kafka_broker: Any) -> None:
    fn = sg.new_function("insp", namespace=NAMES)
    graph = fn.set_topology("flow")
    graph.to(name="double", handler="double").to(name="plus_one", handler="plus_one").to(
        name="tag", handler="tag"
    ).respond()
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=NAMES)
    settings = server.settings
    client = TestClient(TestServer(gateway_app(fn.name, settings)))
    await client.start_server()
    try:
        other = await client.post("/", json={"x": 1})  # another request, not to be shown
        assert other.status == 200
        resp = await client.post("/", json={"x": 21})
        assert resp.status == 200 and await resp.json() == {"x": 43, "tagged": True}
        request_id = resp.headers["X-Request-Id"]
        assert request_id and request_id != other.headers["X-Request-Id"]

        status, out, err = await inspect(settings, fn.name, "--request-id", request_id, "--json")
        assert status == 0, err
        records = [orjson.loads(line) for line in out.splitlines()]
        # the entry topic, the topics of the steps after the first, then the answer: on the
        # gateway's reply topic and the output topic (sent together, in either order)
        steps = [r["step"] for r in records]
        assert steps[:3] == ["in", "plus_one", "tag"] and set(steps[3:]) == {"reply", "out"}, steps
        assert len(steps) == 5, records
        assert [r["time"] for r in records] == sorted(r["time"] for r in records)
        assert [orjson.loads(r["body"]) for r in records] == [
            {"x": 21},
            {"x": 42},
            {"x": 43},
            {"x": 43, "tagged": True},
            {"x": 43, "tagged": True},
        ]
        assert all(r["headers"]["sg-id"] == request_id for r in records)
        assert records[0]["topic"] == settings.topic(fn.name, "in")
        assert records[1]["headers"]["sg-source"] == "double"
        assert "5 records" in err

        # the text form: one block per record, the same order
        status, out, err = await inspect(settings, fn.name, "--request-id", request_id)
        assert status == 0, err
        firsts = [line.split()[1] for line in out.splitlines() if not line.startswith(" ")]
        assert firsts == steps, out
        assert '{"x":42}' in out and f"sg-id={request_id}" in out

        # a caller's own X-Request-Id is the id
        mine = await client.post("/", json={"x": 5}, headers={"X-Request-Id": "order-77"})
        assert mine.status == 200 and mine.headers["X-Request-Id"] == "order-77"
        status, out, err = await inspect(settings, fn.name, "--request-id", "order-77", "--json")
        assert status == 0, err
        mine_steps = [orjson.loads(line)["step"] for line in out.splitlines()]
        assert mine_steps[:3] == ["in", "plus_one", "tag"] and len(mine_steps) == 5, mine_steps

        status, out, err = await inspect(settings, fn.name, "--request-id", "nobody-sent-this")
        assert status == 1 and out == ""
        assert "no records of request nobody-sent-this" in err

        status, out, err = await inspect(settings, "no-such-fn", "--request-id", request_id)
        assert status == 1 and "no topics of function no-such-fn" in err
    finally:
        await client.close()
        server.close()
