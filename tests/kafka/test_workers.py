"""Real worker processes on the real broker: direct producers, crashes, scale-out, bad input."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from workers import WorkerFactory, body, collect, produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _ids(messages: list[Any]) -> Counter[int]:
    return Counter(body(m)["n"] for m in messages)


def test_events_from_kcat_are_processed(factory: WorkerFactory) -> None:
    """A direct producer (kcat, no headers) writes JSON lines; results reach the output topic."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat must be installed (make test installs it from Debian)"
    factory.start("topologies.pipeline")
    lines = "".join(orjson.dumps({"n": i}).decode() + "\n" for i in range(20))
    subprocess.run(
        [kcat, "-P", "-b", factory.brokers, "-t", factory.topic("pipeline", "in")],
        input=lines.encode(),
        check=True,
        timeout=30,
    )
    out = asyncio.run(collect(factory.brokers, factory.topic("pipeline", "out"), 20, 60))
    results = {body(m)["n"]: body(m) for m in out}
    assert sorted(results) == list(range(20))
    assert results[3] == {"n": 3, "enriched": True, "score": (3 * 7919) % 100, "label": "high"}


def test_a_crashed_worker_loses_nothing(factory: WorkerFactory) -> None:
    """10,000 events; SIGKILL the worker midway; a new worker finishes: every event has a result."""
    total = 10_000
    entry, out = factory.topic("pipeline", "in"), factory.topic("pipeline", "out")
    records = [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(total)]
    first = factory.start("topologies.pipeline")
    asyncio.run(produce(factory.brokers, entry, records))
    asyncio.run(collect(factory.brokers, out, total // 4, 120))  # it is well under way
    first.kill()
    factory.start("topologies.pipeline")
    done = asyncio.run(collect(factory.brokers, out, total, 240, key_of=lambda m: body(m)["n"]))
    seen = _ids(done)
    missing = set(range(total)) - set(seen)
    duplicates = sum(c - 1 for c in seen.values())
    print(f"crash test: {total} events, {len(seen)} with results, {duplicates} duplicates")
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:10]}"


def test_a_worker_joining_midstream_loses_nothing(factory: WorkerFactory) -> None:
    """A second worker joins while the first is busy: the rebalance moves partitions away from
    a worker that has already asked for (prefetched) its next batch; every event gets a result."""
    total = 30_000
    entry, out = factory.topic("pipeline", "in"), factory.topic("pipeline", "out")
    records = [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(total)]
    factory.start("topologies.pipeline")
    asyncio.run(produce(factory.brokers, entry, records[:10_000]))
    asyncio.run(collect(factory.brokers, out, 2_500, 120))  # it is well under way
    factory.start("topologies.pipeline")
    asyncio.run(produce(factory.brokers, entry, records[10_000:]))  # while the group rebalances
    done = asyncio.run(collect(factory.brokers, out, total, 240, key_of=lambda m: body(m)["n"]))
    missing = set(range(total)) - set(_ids(done))
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:10]}"
    writers = Counter(dict(m.headers).get("sg-worker") for m in done)
    assert len(writers) == 2, f"expected the second worker to take partitions, got {writers}"


def test_two_workers_share_the_partitions(factory: WorkerFactory) -> None:
    """Two workers of one function both get partitions and together process every event."""
    total = 2_000
    factory.start("topologies.pipeline")
    factory.start("topologies.pipeline")
    entry, out = factory.topic("pipeline", "in"), factory.topic("pipeline", "out")
    asyncio.run(
        produce(
            factory.brokers,
            entry,
            [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(total)],
        )
    )
    done = asyncio.run(collect(factory.brokers, out, total, 180, key_of=lambda m: body(m)["n"]))
    assert set(_ids(done)) == set(range(total))
    writers = Counter(dict(m.headers).get("sg-worker") for m in done)
    assert len(writers) == 2, f"expected both workers to process events, got {writers}"


def test_undecodable_records_go_to_the_dead_letter_topic(factory: WorkerFactory) -> None:
    """Random bytes and malformed headers all reach the DLQ; the worker keeps serving."""
    factory.start("topologies.pipeline")
    entry, dlq, out = (factory.topic("pipeline", t) for t in ("in", "dlq", "out"))
    rng = random.Random(7)
    bad: list[tuple[bytes | None, bytes, list[Any]]] = []
    for i in range(30):  # bytes that cannot be JSON, sent as JSON
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + b"\xff{"
        bad.append((f"bad{i}".encode(), junk, [("sg-content-type", b"application/json")]))
    malformed = [
        [("sg-visits", b"not json")],
        [("sg-chunk", b"seven")],
        [("sg-encoding", b"bogus")],
        [("sg-members", b"[1")],
        [("sg-path", b"\xff\xfe")],
    ]
    for i, headers in enumerate(malformed):
        bad.append((f"hdr{i}".encode(), b'{"n": 1}', headers))
    asyncio.run(produce(factory.brokers, entry, bad))
    good = [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(10)]
    asyncio.run(produce(factory.brokers, entry, good))
    dead = asyncio.run(collect(factory.brokers, dlq, len(bad), 60))
    reasons = [dict(m.headers).get("sg-error", b"").decode() for m in dead]
    assert len(dead) == len(bad), reasons
    assert all(r.startswith(("undecodable record value", "bad record headers")) for r in reasons), (
        reasons
    )
    served = asyncio.run(collect(factory.brokers, out, 10, 60))
    assert sorted(body(m)["n"] for m in served) == list(range(10))
    assert os.path.exists(factory.workers[0].log_path)


def test_a_child_function_runs_in_its_own_worker(factory: WorkerFactory, tmp_path: Path) -> None:
    """Parent and child are separate processes, joined by the queue's topic."""
    log = tmp_path / "audit.jsonl"
    here = str(Path(__file__).parent)
    factory.env["SHOP_LOG"] = str(log)
    factory.env["PYTHONPATH"] = os.pathsep.join([here, factory.env.get("PYTHONPATH", "")])
    factory.start("shop_topology")
    child = factory.start("shop_topology", function="audit")
    records = [(str(i).encode(), orjson.dumps({"n": i}), []) for i in range(50)]
    asyncio.run(produce(factory.brokers, factory.topic("shop", "in"), records))
    deadline = time.monotonic() + 60
    lines: list[bytes] = []
    while time.monotonic() < deadline:
        lines = log.read_bytes().splitlines() if log.exists() else []
        if len(lines) >= 50:
            break
        time.sleep(0.2)
    saved = sorted(orjson.loads(line)["n"] for line in lines)
    assert saved == list(range(50)), child.log()[-2000:]
    assert all(orjson.loads(line)["tagged"] for line in lines)
