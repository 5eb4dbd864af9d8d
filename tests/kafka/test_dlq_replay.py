"""`streamgraph dlq replay`: dead letters go back to the step they failed in, once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from workers import body, collect

import streamgraph as sg
from streamgraph.engines.kafka.dlq import replay_dead_letters
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

state = {"broken": True}


def flaky(event: dict[str, Any]) -> dict[str, Any]:
    if state["broken"]:
        raise RuntimeError("the model is down")
    return {**event, "fixed": True}


def test_replay_after_a_fix(kafka_broker: Any) -> None:
    state["broken"] = True
    fn = sg.new_function("flaky", namespace={"flaky": flaky})
    fn.set_topology("flow").to(name="prep", handler="(event)").to(name="model", handler="flaky")
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    settings = server.settings
    for i in range(5):
        server.test(body={"n": i})
    dead = asyncio.run(collect(settings.brokers, settings.topic("flaky", "dlq"), 5, 30))
    assert [dict(m.headers)["sg-origin-topic"].decode() for m in dead] == [
        settings.topic("flaky", "model")
    ] * 5

    state["broken"] = False  # the fix
    report = asyncio.run(replay_dead_letters("flaky", settings, idle_seconds=1.0))
    assert report.replayed == {settings.topic("flaky", "model"): 5}
    out = asyncio.run(collect(settings.brokers, settings.topic("flaky", "out"), 5, 30))
    assert sorted(body(m)["n"] for m in out) == list(range(5))
    assert all(body(m)["fixed"] for m in out)

    # a second replay finds nothing new (the first one committed)
    again = subprocess.run(
        [sys.executable, "-m", "streamgraph.cli", "dlq", "replay", "flaky", "--idle", "1",
         "--brokers", settings.brokers],
        capture_output=True, text=True, timeout=60, check=True,
        env={"STREAMGRAPH_TOPIC_PREFIX": settings.topic_prefix, "PATH": ""},
    )  # fmt: skip
    assert "replayed 0 dead letters of flaky" in again.stdout
    server.wait_for_completion()
