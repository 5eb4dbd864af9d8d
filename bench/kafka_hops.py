"""Diagnostic: where a single event's time goes on each Kafka hop inside a streamgraph worker.

Runs `topologies.pipeline` in a worker process whose consumer thread, main loop, agents and
producer are wrapped with timestamps (time.time(), comparable across threads), sends single
events one at a time (the latency loop of bench/kafka_pipeline.py) and prints, per hop, the
median and p10/p90 of each stage:

    produce call -> broker ack            previous step's send() until the broker acknowledged
    produce call -> fetch response        until the consumer thread received the fetch holding it
    fetch response -> thread returns it   aiokafka's fetched_records() hands it out (thread loop)
    thread -> main loop                   Faust's MethodQueue: the future set across threads
    main loop -> agent                    LeanConsumer hand-over, agent queue, agent wakes
    produce call -> agent                 the whole hop
    fetch sent before produce             > 0: the fetch already waited on the broker (long poll)

The first hop (the entry topic) is written by this process, so it has no produce-call stages.

With --callbacks the worker runs on asyncio's loops (uvloop's cannot be counted) and the bench
also prints how many loop callbacks each thread ran per hop: a count, so it does not move with
the load of a shared machine as the times do.

    .venv/bin/python bench/kafka_hops.py [--requests N] [--brokers host:port] [--callbacks]

The wrappers cost a few µs per stage; compare stages with each other, not with other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# -- inside the worker process --------------------------------------------------------------------
def count_callbacks(out: str) -> None:
    """Count the callbacks each thread's asyncio loop runs; dump the counts to `out` each second."""
    import asyncio.events

    counts: dict[str, int] = {}
    run_handle = asyncio.events.Handle._run

    def counted(handle: Any) -> None:
        name = "main loop" if threading.current_thread() is threading.main_thread() else "thread"
        counts[name] = counts.get(name, 0) + 1
        run_handle(handle)

    asyncio.events.Handle._run = counted  # type: ignore[method-assign]

    def dump() -> None:
        while True:
            time.sleep(1.0)
            Path(out).write_text(json.dumps(counts))

    threading.Thread(target=dump, daemon=True).start()


def probe_worker(out: str) -> None:
    """Wrap the stages with timestamps, dump them to `out` every second, run the worker."""
    from aiokafka.consumer import fetcher

    from streamgraph.commands.worker_process import run_worker
    from streamgraph.engines.kafka import record_driver, sender, transport

    rows: list[dict[str, Any]] = []

    def mark(stage: str, **fields: Any) -> None:
        rows.append({"s": stage, "t": time.time(), **fields})

    def dump() -> None:
        while True:
            time.sleep(1.0)
            batch = rows[:]
            del rows[: len(batch)]
            with open(out, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in batch)

    threading.Thread(target=dump, daemon=True).start()

    proc_fetch = fetcher.Fetcher._proc_fetch_request

    async def timed_fetch(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        sent = time.time()
        result = await proc_fetch(self, assignment, node_id, request)
        mark("fetch", sent=sent)
        return result

    fetched_records = fetcher.Fetcher.fetched_records

    async def timed_records(self: Any, partitions: Any, timeout: Any = 0, max_records: Any = None):  # type: ignore[no-untyped-def]
        result = await fetched_records(self, partitions, timeout, max_records)
        for tp, records in result.items():
            for r in records:
                mark("thread", tp=[tp.topic, tp.partition, r.offset], ts=r.timestamp / 1000)
        return result

    wait_next = transport.LeanConsumer._wait_next_records

    async def timed_wait(self: Any, timeout: float) -> Any:
        records, active = await wait_next(self, timeout)
        for tp, batch in (records or {}).items():
            for r in batch:
                mark("main", tp=[tp.topic, tp.partition, r.offset])
        return records, active

    run_records = record_driver.RecordDriver.run_records

    async def timed_run(self: Any, name: str, records: list[Any]) -> None:
        for r in records:
            m = r.message
            mark("agent", tp=[m.topic, m.partition, m.offset])
        await run_records(self, name, records)

    send = sender.RecordSender.send

    async def timed_send(self: Any, emission: Any) -> Any:
        called = time.time()
        delivery = await send(self, emission)

        def acked(future: Any) -> None:
            if not future.exception():
                md = future.result()
                mark("acked", tp=[md.topic, md.partition, md.offset], called=called)

        delivery.add_done_callback(acked)
        return delivery

    fetcher.Fetcher._proc_fetch_request = timed_fetch
    fetcher.Fetcher.fetched_records = timed_records
    transport.LeanConsumer._wait_next_records = timed_wait
    record_driver.RecordDriver.run_records = timed_run
    sender.RecordSender.send = timed_send
    run_worker("topologies.pipeline", loglevel="info")


# -- the analysis ---------------------------------------------------------------------------------
def analyse(path: Path) -> dict[str, dict[str, list[float]]]:
    """Per hop (topic suffix), per stage: the samples in ms."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    fetches = sorted((r for r in rows if r["s"] == "fetch"), key=lambda r: r["t"])
    fetch_done = [f["t"] for f in fetches]
    by_record: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        if "tp" in r:
            by_record.setdefault(tuple(r["tp"]), {})[r["s"]] = r
    hops: dict[str, dict[str, list[float]]] = {}
    for (topic, _, _), st in by_record.items():
        if not all(s in st for s in ("thread", "main", "agent")):
            continue
        stages = hops.setdefault(topic.rsplit(".", 1)[-1], {})

        def add(stage: str, seconds: float, stages: dict[str, list[float]] = stages) -> None:
            stages.setdefault(stage, []).append(seconds * 1000)

        fetch = fetches[bisect.bisect_right(fetch_done, st["thread"]["t"]) - 1]
        if "acked" in st:  # produced by the worker: exact produce-call time
            called = st["acked"]["called"]
            add("produce call -> broker ack", st["acked"]["t"] - called)
            add("produce call -> fetch response", fetch["t"] - called)
            add("fetch sent before produce", called - fetch["sent"])
        else:  # the entry topic: only the record's CreateTime (ms, truncated)
            called = st["thread"]["ts"]
        add("fetch response -> thread returns it", st["thread"]["t"] - fetch["t"])
        add("thread -> main loop", st["main"]["t"] - st["thread"]["t"])
        add("main loop -> agent", st["agent"]["t"] - st["main"]["t"])
        add("produce call -> agent", st["agent"]["t"] - called)
    return hops


# -- the run --------------------------------------------------------------------------------------
def run(brokers: str, requests: int, callbacks: bool) -> Path:
    sys.path.insert(0, str(ROOT))
    from bench.kafka_pipeline import latency, ready_worker

    prefix = f"sgh{uuid.uuid4().hex[:6]}"
    folder = Path(tempfile.mkdtemp(prefix="sg-bench-hops-"))
    out = folder / "stages.jsonl"
    env = {**os.environ, "STREAMGRAPH_BROKERS": brokers, "STREAMGRAPH_TOPIC_PREFIX": prefix,
           "STREAMGRAPH_PARTITIONS": "4", "PYTHONPATH": str(ROOT)}  # fmt: skip
    command = [sys.executable, __file__, "--probe-worker", str(out)]
    counts = folder / "callbacks.json"
    if callbacks:
        env["STREAMGRAPH_UVLOOP"] = "false"
        command += ["--count-callbacks", str(counts)]
    with ready_worker(command, env, folder):
        entry, result = f"{prefix}.pipeline.in", f"{prefix}.pipeline.out"
        time.sleep(2.5)  # a dump of the counts before the events (the worker dumps every second)
        before = json.loads(counts.read_text()) if callbacks else {}
        p50, p99 = asyncio.run(latency(brokers, entry, result, requests))
        print(f"end to end ({requests} single events, 3 steps): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        time.sleep(2.5)  # the worker dumps its stages every second
        if callbacks:
            after = json.loads(counts.read_text())
            # background timers (heartbeats, commits) run too: a few per second, not per event
            per_hop = {k: (after[k] - before.get(k, 0)) / requests / 3 for k in after}
            print(
                "loop callbacks per hop: "
                + ", ".join(f"{name} {n:.1f}" for name, n in sorted(per_hop.items()))
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--brokers", default=None)
    parser.add_argument("--callbacks", action="store_true", help="count loop callbacks per hop")
    parser.add_argument("--probe-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--count-callbacks", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_worker:
        if args.count_callbacks:
            count_callbacks(args.count_callbacks)
        probe_worker(args.probe_worker)
        return
    broker = None
    brokers = args.brokers
    if brokers is None:
        from streamgraph.broker import LocalKafka

        broker = LocalKafka(fast_start=False).start()
        brokers = broker.bootstrap_servers
    try:
        stages = analyse(run(brokers, args.requests, args.callbacks))
    finally:
        if broker is not None:
            broker.stop()
    for hop, samples in stages.items():
        print(f"hop into topic '{hop}'")
        for stage, values in samples.items():
            values.sort()
            p10, p90 = values[len(values) // 10], values[len(values) * 9 // 10]
            median = statistics.median(values)
            print(
                f"  {stage:<38}{median:>7.2f} ms  (p10 {p10:.2f}, p90 {p90:.2f}, n={len(values)})"
            )


if __name__ == "__main__":
    main()
