"""docs/grafana-dashboard.json queries only metrics a running worker (`streamgraph worker
--metrics-port`) or gateway (`/metrics`) serves."""

from __future__ import annotations

import asyncio
import json
import os
import re
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
DASHBOARD = HERE.parent.parent / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bstreamgraph_[a-z0-9_]+")


def queried(dashboard: dict[str, Any]) -> set[str]:
    """Every metric name in the dashboard's PromQL: panel targets and template variables."""
    texts = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
        if "expr" in target
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        texts.append(query["query"] if isinstance(query, dict) else str(query or ""))
    return {name for text in texts for name in METRIC.findall(text)}


def served(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


async def get(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


def test_the_dashboard_is_a_grafana_model() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "streamgraph" and dashboard["panels"]
    titles = " ".join(panel["title"] for panel in dashboard["panels"])
    for what in ("Events/s", "lag", "p50", "p99", "errors", "Dead letters", "Gateway"):
        assert what in titles
    assert {
        "streamgraph_step_events_total",
        "streamgraph_consumer_lag",
        "streamgraph_step_seconds_bucket",
        "streamgraph_gateway_request_seconds_bucket",
    } <= queried(dashboard)


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = os.pathsep.join([str(HERE), made.env.get("PYTHONPATH", "")])
    try:
        yield made
    finally:
        made.close()


@pytest.mark.timeout(300)
async def test_every_metric_the_dashboard_queries_is_served(factory: WorkerFactory) -> None:
    wanted = queried(json.loads(DASHBOARD.read_text()))
    port = free_ports(1)[0]
    factory.start("metrics_topology", extra_args=("--metrics-port", str(port)))
    settings = Settings(brokers=factory.brokers, topic_prefix=factory.prefix, partitions=4)
    client = TestClient(TestServer(gateway_app("counter", settings)))
    await client.start_server()
    try:
        for body in ({"want": 2}, {"want": 2, "bad": True}):  # an answer and a step error
            await client.post("/", json=body)
        gateway = served(await (await client.get("/metrics")).text())
        deadline = time.monotonic() + 30
        while True:  # the lag is there once the worker fetched from its partitions
            worker = served(await get(f"http://127.0.0.1:{port}/metrics"))
            if wanted <= worker | gateway or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    assert sorted(wanted - worker - gateway) == []
