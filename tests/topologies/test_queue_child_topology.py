"""The guide's queue and child function: parent and child as two worker processes, a gateway."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "kafka"))
from workers import WorkerFactory

pytestmark = pytest.mark.kafka


async def test_the_child_worker_saves_every_record_sent_to_the_parent(
    kafka_broker: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"  # streamgraph's per-user state folder, for these workers
    log = state / "examples" / "log-ds.jsonl"  # where the example saves by default
    factory = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    factory.env["STREAMGRAPH_STATE_DIR"] = str(state)
    factory.env.pop("STREAMGRAPH_EXAMPLE_LOG_DS_PATH", None)
    settings = Settings(brokers=kafka_broker.bootstrap_servers, topic_prefix=factory.prefix)
    client = TestClient(TestServer(gateway_app("queue-child", settings)))
    try:
        # worker start-up blocks; a thread keeps this test's loop free
        await asyncio.to_thread(factory.start, "topologies.queue_child")
        child = await asyncio.to_thread(factory.start, "topologies.queue_child", True, "log-ds")
        await client.start_server()
        sent: list[dict[str, int]] = []
        for batch in range(5):
            records = [{"batch": batch, "n": n, "x2": n * n} for n in range(batch + 1)]
            resp = await client.post("/", json={"records": records})
            assert resp.status == 200, await resp.text()
            assert set(await resp.json()) == {"id"}  # no responder: the event id
            sent.extend(records)
        deadline = time.monotonic() + 60
        lines: list[bytes] = []
        while time.monotonic() < deadline and len(lines) < len(sent):
            await asyncio.sleep(0.2)
            lines = log.read_bytes().splitlines() if log.exists() else []
        saved = [orjson.loads(line) for line in lines]
        key = lambda r: (r["batch"], r["n"])  # noqa: E731
        assert sorted(saved, key=key) == sorted(
            ({**r, "extend": "something"} for r in sent), key=key
        ), child.log()[-3000:]
        assert "logged: {" in child.log()  # PrintEventLog ran in the child's process
        assert "logged: {" not in factory.workers[0].log()
    finally:
        await client.close()
        factory.close()
    # nothing in the folders the workers ran in but their logs: Faust's data folders are in
    # the state folder, as is the dataset
    for folder in ("w0", "w1"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["worker.log"]
    faust = state / "faust"
    assert sorted(p.name for p in faust.iterdir()) == [
        f"{factory.prefix}.log-ds",
        f"{factory.prefix}.queue-child",
    ]
