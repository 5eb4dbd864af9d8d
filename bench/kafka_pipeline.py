"""Benchmark: a 3-step flow on a real broker, streamgraph against a raw aiokafka relay.

In one run, on the same broker: (a) three raw aiokafka relays (consume, produce; same record
sizes) and (b) `topologies.pipeline` run by a `streamgraph worker` process. Prints events/s for
both, the ratio b/a, single-request end-to-end latency p50/p99 for both, the worker's RSS, and
CPU time per event: the worker's from /proc, the relays' as this process's CPU time in (a) less
its CPU time in (b) (the client's work, producing and reading the events, is the same in both).
CPU per event moves far less with the load of a shared machine than events/s do.

    .venv/bin/python bench/kafka_pipeline.py [--events N] [--brokers host:port] [--loop asyncio]
        [--also STREAMGRAPH_PROCESSING_GUARANTEE=exactly_once ...] [--topology MODULE]

Each `--also NAME=VALUE` adds a row: the same worker with that setting in its environment
(e.g. exactly_once against the at_least_once default, or another commit interval), in the same
run, on the same broker.

`--topology MODULE` runs another topology module as (b) and its rows (a function whose events
are {"n": i}; e.g. `--topology merge_topology` with PYTHONPATH=tests/kafka, a flow with a Merge);
the relay baseline stays the 3-step chain.

Without --brokers it starts a local Apache Kafka (streamgraph.broker.LocalKafka) and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import checkout  # noqa: F401  (first: the examples below come from the repository root)
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamgraph.loops import use_uvloop
from topologies.pipeline import enrich, label, score

PARTITIONS = 4
# no result for this long means the run is broken (a lost record, a dead worker): fail, not hang
WAIT_SECONDS = 120.0
STEPS = (enrich, score, label)


async def create_topics(brokers: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def relay(brokers: str, source: str, target: str, fn: Any, group: str) -> None:
    """One raw hop: consume a batch, apply the step, produce, commit after delivery."""
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=brokers, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=1000)
            futures = []
            for messages in batch.values():
                for m in messages:
                    value = orjson.dumps(fn(orjson.loads(m.value)))
                    futures.append(await producer.send(target, value, key=m.key))
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


# results count once committed: an exactly_once worker's are visible only then (without
# transactions read_committed reads the same records as soon)
ISOLATION = "read_committed"


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of process `pid` (this process when None)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(brokers: str, entry: str, out: str, events: int) -> float:
    """Events/s from the first produce until the last result is read from `out`."""
    consumer = AIOKafkaConsumer(out, bootstrap_servers=brokers, auto_offset_reset="latest",
                                isolation_level=ISOLATION)  # fmt: skip
    await consumer.start()
    await consumer.seek_to_end()
    await asyncio.sleep(0.5)
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=5)
    await producer.start()
    start = time.perf_counter()
    futures = [
        await producer.send(entry, orjson.dumps({"n": i}), key=str(i).encode())
        for i in range(events)
    ]
    await asyncio.gather(*futures)
    seen = 0
    deadline = time.monotonic() + WAIT_SECONDS
    while seen < events:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"only {seen} of {events} results on topic {out} within {WAIT_SECONDS:.0f} s"
            )
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        seen += sum(len(v) for v in batch.values())
    elapsed = time.perf_counter() - start
    await producer.stop()
    await consumer.stop()
    return events / elapsed


async def latency(brokers: str, entry: str, out: str, requests: int) -> tuple[float, float]:
    """p50/p99 in ms of one event at a time through the flow."""
    consumer = AIOKafkaConsumer(out, bootstrap_servers=brokers, auto_offset_reset="latest",
                                isolation_level=ISOLATION)  # fmt: skip
    await consumer.start()
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=0)
    await producer.start()
    samples = []
    for i in range(requests):
        key = f"lat-{i}".encode()
        start = time.perf_counter()
        await producer.send_and_wait(entry, orjson.dumps({"n": i}), key=key)
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while (await consumer.getone()).key != key:
                    pass
        except TimeoutError:
            raise TimeoutError(
                f"no result for event {i} on topic {out} within {WAIT_SECONDS:.0f} s"
            ) from None
        samples.append((time.perf_counter() - start) * 1000)
    await producer.stop()
    await consumer.stop()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def raw_run(brokers: str, events: int, requests: int) -> tuple[float, float, float, float]:
    prefix = f"raw{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}.{i}" for i in range(4)]
    await create_topics(brokers, topics)
    tasks = [
        asyncio.create_task(relay(brokers, topics[i], topics[i + 1], STEPS[i], f"{prefix}.g{i}"))
        for i in range(3)
    ]
    await asyncio.sleep(3)  # let the three groups settle
    cpu = cpu_seconds()
    rate = await throughput(brokers, topics[0], topics[3], events)
    cpu = cpu_seconds() - cpu  # the relays' and the client's
    p50, p99 = await latency(brokers, topics[0], topics[3], requests)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return rate, p50, p99, cpu


@contextmanager
def ready_worker(
    command: list[str], env: dict[str, str], folder: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process started with `command`, once its log says Ready; stopped after."""
    log_path = folder / "worker.log"
    log = log_path.open("wb")
    worker = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while "Ready" not in log_path.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


def streamgraph_run(
    brokers: str,
    events: int,
    requests: int,
    settings: dict[str, str] | None = None,
    topology: str = "topologies.pipeline",
) -> tuple[float, float, float, float, float, float]:
    """events/s, p50, p99, RSS MB, the worker's CPU s and this process's (the client's) CPU s.

    `settings`: more environment variables for the worker (`--also`)."""
    prefix = f"sgb{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "STREAMGRAPH_BROKERS": brokers, "STREAMGRAPH_TOPIC_PREFIX": prefix,
           "STREAMGRAPH_PARTITIONS": str(PARTITIONS), **(settings or {})}  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="sg-bench-"))
    command = [sys.executable, "-m", "streamgraph.cli", "worker", topology]
    name = importlib.import_module(topology).function.name
    with ready_worker(command, env, folder) as worker:
        entry, out = f"{prefix}.{name}.in", f"{prefix}.{name}.out"
        worker_cpu, client_cpu = cpu_seconds(worker.pid), cpu_seconds()
        rate = asyncio.run(throughput(brokers, entry, out, events))
        worker_cpu = cpu_seconds(worker.pid) - worker_cpu
        client_cpu = cpu_seconds() - client_cpu
        p50, p99 = asyncio.run(latency(brokers, entry, out, requests))
        return rate, p50, p99, rss_mb(worker.pid), worker_cpu, client_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--topology", default="topologies.pipeline", help="the worker's module")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one more streamgraph row, its worker run with this environment variable",
    )
    args = parser.parse_args()
    variants: list[tuple[str, str]] = []
    for item in args.also:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("STREAMGRAPH_"):
            parser.error(f"--also wants STREAMGRAPH_NAME=VALUE, not {item!r}")
        variants.append((name, value))
    # the worker's event loop (streamgraph/loops.py) is the relays' and the
    # clients' here too, for a like-for-like baseline
    os.environ["STREAMGRAPH_UVLOOP"] = str(args.loop == "uvloop").lower()
    use_uvloop()
    broker = None
    brokers = args.brokers
    if brokers is None:
        from streamgraph.broker import LocalKafka

        broker = LocalKafka(fast_start=False).start()  # full JIT, as in production
        brokers = broker.bootstrap_servers
    try:
        raw_rate, raw_p50, raw_p99, raw_cpu = asyncio.run(
            raw_run(brokers, args.events, args.requests)
        )
        sg_rate, sg_p50, sg_p99, rss, sg_cpu, client_cpu = streamgraph_run(
            brokers, args.events, args.requests, topology=args.topology
        )
        others = [
            (f"{name.removeprefix('STREAMGRAPH_').lower()}={value}",
             streamgraph_run(brokers, args.events, args.requests, {name: value}, args.topology))
            for name, value in variants
        ]  # fmt: skip
    finally:
        if broker is not None:
            broker.stop()
    print(
        f"3-step flow on Apache Kafka ({brokers}), {args.events} events, {PARTITIONS} partitions, "
        f"{args.loop} event loops; (b) is {args.topology}"
    )
    raw_us = max(raw_cpu - client_cpu, 0.0) / args.events * 1e6
    sg_us = sg_cpu / args.events * 1e6
    print(f"{'':<26}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/event':>14}")
    print(
        f"{'(a) raw aiokafka relay':<26}{raw_rate:>10,.0f}{raw_p50:>9.2f}{raw_p99:>9.2f}"
        f"{raw_us:>14.0f}"
    )
    print(
        f"{'(b) streamgraph worker':<26}{sg_rate:>10,.0f}{sg_p50:>9.2f}{sg_p99:>9.2f}{sg_us:>14.0f}"
    )
    print(
        f"ratio b/a: {sg_rate / raw_rate:.2f} events/s (target >= 0.6), "
        f"{raw_us / sg_us:.2f} CPU per event; p50 target <= 10 ms"
    )
    print(f"worker RSS: {rss:.0f} MB (target < 120 MB)")
    for variant, (rate, p50, p99, other_rss, cpu, _) in others:
        us = cpu / args.events * 1e6
        print(
            f"(b) with {variant}: {rate:,.0f} events/s ({rate / sg_rate:.2f} of (b)), "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {us:.0f} CPU us/event, RSS {other_rss:.0f} MB"
        )


if __name__ == "__main__":
    main()
