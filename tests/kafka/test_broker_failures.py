"""Workers under broker failures: a restart under load, and a lost node of a 3-node cluster."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from workers import WorkerFactory, body, collect, produce

from streamgraph.broker import LocalKafka

# brokers of their own, started and killed, and up to 240 s of results: over the 300 s default
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]


def _events(start: int, stop: int) -> list[tuple[bytes | None, bytes, list[Any]]]:
    return [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(start, stop)]


def _results(factory: WorkerFactory, total: int, timeout: float) -> set[int]:
    out = factory.topic("pipeline", "out")
    done = asyncio.run(collect(factory.brokers, out, total, timeout, key_of=lambda m: body(m)["n"]))
    return {body(m)["n"] for m in done}


def test_worker_reconnects_after_a_broker_restart(own_broker: LocalKafka, tmp_path: Path) -> None:
    factory = WorkerFactory(own_broker.bootstrap_servers, tmp_path / "workers")
    try:
        factory.start("topologies.pipeline")
        entry = factory.topic("pipeline", "in")
        asyncio.run(produce(factory.brokers, entry, _events(0, 2000)))
        own_broker.stop_node(0)  # the broker goes away under load ...
        time.sleep(3)
        own_broker.start_node(0)  # ... and comes back on the same port with its data
        asyncio.run(produce(factory.brokers, entry, _events(2000, 3000)))
        seen = _results(factory, 3000, 180)
        assert seen == set(range(3000)), f"{3000 - len(seen)} events without a result"
        assert factory.workers[0].process.poll() is None, "the worker must survive the restart"
    finally:
        factory.close()


def test_losing_one_of_three_brokers_loses_nothing(tmp_path: Path) -> None:
    cluster = LocalKafka(nodes=3, data_dir=tmp_path / "kafka").start()
    factory = WorkerFactory(cluster.bootstrap_servers, tmp_path / "workers")
    factory.env["STREAMGRAPH_REPLICATION"] = "3"
    try:
        factory.start("topologies.pipeline")
        entry = factory.topic("pipeline", "in")
        producing = threading.Thread(
            target=lambda: asyncio.run(produce(factory.brokers, entry, _events(0, 4000)))
        )
        producing.start()
        time.sleep(1.0)
        cluster.kill_node(1)  # SIGKILL one broker mid-stream
        producing.join(timeout=120)
        assert not producing.is_alive()
        seen = _results(factory, 4000, 240)
        assert seen == set(range(4000)), f"{4000 - len(seen)} events lost"
    finally:
        factory.close()
        cluster.stop()
