"""Benchmark: one function scaled out over 1, 2 and 4 worker processes on one broker.

`topologies.pipeline` (3 steps) with 8 partitions a topic; for each worker count, in one run on
the same broker: events/s of a burst (from the first produce to the last result read), the
ratio against one worker, single-event latency p50/p99, and whether every event got exactly the
answer one worker gives (a consumer group shares the partitions; nothing lost or changed).

    .venv/bin/python bench/scale_out.py [--events N] [--workers 1,2,4] [--brokers host:port]

Without --brokers it starts a local Apache Kafka and stops it. Broker, workers and client share
this machine's cores: on 2 cores, more workers mostly add contention (see the README).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import checkout  # noqa: F401  (first: the examples below come from the repository root)
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_pipeline import latency, ready_worker

from streamgraph.loops import use_uvloop
from topologies.pipeline import enrich, label, score

PARTITIONS = 8
SETTLE_SECONDS = 5.0  # after the last worker is Ready: the group's last rebalance


def expected(n: int) -> dict[str, Any]:
    return label(score(enrich({"n": n})))


async def burst(brokers: str, entry: str, out: str, events: int, bound: float) -> tuple[float, int]:
    """(events/s, wrong or missing answers) for `events` events produced at once."""
    consumer = AIOKafkaConsumer(out, bootstrap_servers=brokers, auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()
    await asyncio.sleep(0.5)
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=5)
    await producer.start()
    answers: dict[int, dict[str, Any]] = {}
    try:
        start = time.perf_counter()
        deliveries = [
            await producer.send(entry, orjson.dumps({"n": i}), key=str(i).encode())
            for i in range(events)
        ]
        await asyncio.gather(*deliveries)
        deadline = time.monotonic() + bound
        while len(answers) < events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(answers)} of {events} answers on {out} in {bound:g} s")
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    body = orjson.loads(message.value)
                    answers[body["n"]] = body
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
        await consumer.stop()
    wrong = sum(1 for n in range(events) if answers.get(n) != expected(n))
    return events / elapsed, wrong


def run_workers(brokers: str, count: int, events: int, requests: int) -> tuple[float, ...]:
    prefix = f"sgs{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "STREAMGRAPH_BROKERS": brokers, "STREAMGRAPH_TOPIC_PREFIX": prefix,
           "STREAMGRAPH_PARTITIONS": str(PARTITIONS)}  # fmt: skip
    command = [sys.executable, "-m", "streamgraph.cli", "worker", "topologies.pipeline"]
    with ExitStack() as workers:
        for _ in range(count):
            folder = Path(tempfile.mkdtemp(prefix="sg-scale-"))
            workers.enter_context(ready_worker(command, env, folder))
        time.sleep(SETTLE_SECONDS)
        entry, out = f"{prefix}.pipeline.in", f"{prefix}.pipeline.out"
        rate, wrong = asyncio.run(burst(brokers, entry, out, events, bound=300))
        p50, p99 = asyncio.run(latency(brokers, entry, out, requests))
    return rate, p50, p99, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--brokers", default=None)
    args = parser.parse_args()
    use_uvloop()
    counts = [int(c) for c in args.workers.split(",")]
    broker = None
    brokers = args.brokers
    if brokers is None:
        from streamgraph.broker import LocalKafka

        broker = LocalKafka(fast_start=False).start()
        brokers = broker.bootstrap_servers
    results = {}
    try:
        for count in counts:
            results[count] = run_workers(brokers, count, args.events, args.requests)
            print(f"  {count} worker(s) done", file=sys.stderr, flush=True)
    finally:
        if broker is not None:
            broker.stop()
    base = results[counts[0]][0]
    print(
        f"topologies.pipeline scaled out on {brokers}: {args.events} events, {PARTITIONS} "
        f"partitions, {os.cpu_count()} cores shared by broker, workers and client"
    )
    print(f"{'workers':>8}{'events/s':>10}{'vs ' + str(counts[0]):>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'wrong answers':>15}")  # fmt: skip
    for count, (rate, p50, p99, wrong) in results.items():
        print(f"{count:>8}{rate:>10,.0f}{rate / base:>8.2f}{p50:>9.2f}{p99:>9.2f}{wrong:>15}")


if __name__ == "__main__":
    main()
