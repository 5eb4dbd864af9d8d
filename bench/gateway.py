"""Benchmark: closed-loop HTTP load on the gateway in front of a 3-step flow on Kafka.

In one run, on loopback only: (a) a plain aiohttp server whose handler runs the same three
steps in process, and (b) `streamgraph gateway topologies.pipeline_reply` with a
`streamgraph worker` process running the flow on a real broker. Each server is a process of its
own; this process is the client: `concurrency` callers, each sending its next request when the
last one was answered, bounded by a request count and a time limit. Prints requests/s, p50 and
p99 at concurrency 1 and 64 for both, and the ratios b/a. A third run, (c), puts the same gateway
in front of a raw aiokafka responder (no Faust): what the gateway alone can do here.

    .venv/bin/python bench/gateway.py [--requests N] [--seconds S] [--brokers host:port]
        [--clients confluent,aiokafka] [--processes N]

--clients measures the gateway on each Kafka client in turn, against the same worker (b) and
the same responder (c), in one run; --processes runs N gateway processes on one port.

Without --brokers it starts a local Apache Kafka (streamgraph.broker.LocalKafka) and stops it.
Targets: p50 <= 10 ms at concurrency 1; >= 2,000 requests/s with p99 < 100 ms at 64.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from streamgraph.loops import use_uvloop

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 64)


@dataclass
class Result:
    requests: int
    seconds: float
    latencies: list[float]  # ms, sorted
    failures: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * q))]


# -- the plain aiohttp server (run as `bench/gateway.py --serve-plain PORT`) ----------------------
def serve_plain(port: int) -> None:
    from aiohttp import web

    from topologies.pipeline import enrich, label, score

    async def handle(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        return web.Response(
            body=orjson.dumps(label(score(enrich(body)))), content_type="application/json"
        )

    app = web.Application()
    app.router.add_post("/", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- a raw aiokafka responder (`--serve-echo BROKERS TOPIC`): the gateway's ceiling ---------------
async def serve_echo(brokers: str, entry: str) -> None:
    """Answer every request on `entry` with the three steps applied, with no Faust at all."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    from streamgraph.wire.codec import decode, encode
    from topologies.pipeline import enrich, label, score

    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(entry, 4, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        entry, bootstrap_servers=brokers, group_id=f"{entry}.echo", auto_offset_reset="latest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=0)
    await consumer.start()
    await producer.start()
    print("echo ready", flush=True)
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=1000)
            for messages in batch.values():
                for m in messages:
                    event = decode(m.key, m.value, m.headers)
                    event.body = label(score(enrich(event.body)))
                    key, value, headers = encode(event, 200)
                    await producer.send(event.reply.topic, value, key=key, headers=headers)
    finally:
        await consumer.stop()
        await producer.stop()


# -- processes ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Process:
    """A child process with its output in a log file; stopped by its pid."""

    def __init__(
        self, args: list[str], env: dict[str, str], folder: Path, name: str, cwd: Path = ROOT
    ) -> None:
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check: Any, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.process.args} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.post(url, json={"n": 1}) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    return asyncio.run(probe())


# -- the load -----------------------------------------------------------------------------------
async def load(url: str, concurrency: int, requests: int, seconds: float) -> Result:
    """`concurrency` closed-loop callers until `requests` answers or `seconds` passed."""
    latencies: list[float] = []
    failures = 0
    sent = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def caller() -> None:
            nonlocal sent, failures
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                body = orjson.dumps({"n": sent})
                start = time.perf_counter()
                async with session.post(url, data=body, headers=JSON) as resp:
                    await resp.read()
                    ok = resp.status == 200
                if ok:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return Result(len(latencies), elapsed, latencies, failures)


JSON = {"Content-Type": "application/json"}


def measure(url: str, requests: int, seconds: float) -> dict[int, Result]:
    asyncio.run(load(url, 8, 200, 10))  # warm up: connections, topic metadata, JIT-free paths
    results = {}
    for concurrency in CONCURRENCY:
        count = requests if concurrency > 1 else max(requests // 10, 200)
        results[concurrency] = asyncio.run(load(url, concurrency, count, seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000, help="per run at concurrency 64")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per run")
    parser.add_argument("--brokers", default=None)
    parser.add_argument(
        "--clients",
        default="aiokafka",
        help="the gateway's Kafka clients to measure in this run, comma-separated "
        "(confluent,aiokafka compares them against the same worker and responder)",
    )
    parser.add_argument("--processes", type=int, default=1, help="gateway processes (one port)")
    parser.add_argument(
        "--base-tree",
        type=Path,
        default=None,
        help="also measure the gateway of this source tree (`git archive REV | tar -x -C DIR`) "
        "against the same back ends: before/after in one run",
    )
    parser.add_argument("--serve-plain", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_uvloop()  # every server here and this client: the gateway's loop (streamgraph/loops.py)
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return
    if args.serve_echo:
        asyncio.run(serve_echo(*args.serve_echo))
        return
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    broker = None
    brokers = args.brokers
    if brokers is None:
        from streamgraph.broker import LocalKafka

        broker = LocalKafka(fast_start=False).start()  # full JIT, as in production
        brokers = broker.bootstrap_servers
    folder = Path(tempfile.mkdtemp(prefix="sg-bench-gateway-"))
    prefix = f"sgg{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "STREAMGRAPH_BROKERS": brokers, "STREAMGRAPH_TOPIC_PREFIX": prefix,
           "STREAMGRAPH_PARTITIONS": "4", "PYTHONPATH": str(ROOT)}  # fmt: skip
    processes: list[Process] = []
    results: dict[str, dict[int, Result]] = {}
    sg = [sys.executable, "-m", "streamgraph.cli"]

    def through_gateway(name: str, client: str, run_env: dict[str, str]) -> None:
        port = free_port()
        argv = [*sg, "gateway", "topologies.pipeline_reply", "--port", str(port)]
        tree = args.base_tree if client == BASE else ROOT
        gateway = Process(
            [*argv, "--processes", str(args.processes)] if args.processes > 1 else argv,
            # `-m` puts the working folder first on sys.path: the tree's own package is used
            {
                **run_env,
                # the base tree's gateway on its default client (aiokafka)
                "STREAMGRAPH_GATEWAY_KAFKA_CLIENT": "aiokafka" if client == BASE else client,
                "PYTHONPATH": str(tree),
            },
            folder,
            f"gateway-{name}-{client}",
            cwd=tree,
        )
        processes.append(gateway)
        url = f"http://127.0.0.1:{port}/"
        gateway.wait_for(lambda: answers(url))
        results[f"{name}, {client}"] = measure(url, args.requests, args.seconds)
        gateway.stop()

    if args.base_tree is not None:
        clients.insert(0, BASE)

    try:
        plain_port = free_port()
        plain = Process(
            [sys.executable, __file__, "--serve-plain", str(plain_port)], env, folder, "plain"
        )
        processes.append(plain)
        plain_url = f"http://127.0.0.1:{plain_port}/"
        plain.wait_for(lambda: answers(plain_url))
        results[PLAIN] = measure(plain_url, args.requests, args.seconds)

        # (b) the gateway in front of a `streamgraph worker` running the flow
        worker = Process([*sg, "worker", "topologies.pipeline_reply"], env, folder, "worker")
        processes.append(worker)
        worker.wait_for(lambda: "Ready" in worker.log())
        for client in clients:
            through_gateway("(b) worker", client, env)
        worker.stop()

        # (c) the same gateway, answered by a raw aiokafka responder: the gateway's own ceiling
        echo_env = {**env, "STREAMGRAPH_TOPIC_PREFIX": f"{prefix}e"}
        entry = f"{prefix}e.pipeline-reply.in"
        echo = Process(
            [sys.executable, __file__, "--serve-echo", brokers, entry], echo_env, folder, "echo"
        )
        processes.append(echo)
        echo.wait_for(lambda: "echo ready" in echo.log())
        for client in clients:
            through_gateway("(c) responder", client, echo_env)
    finally:
        for process in reversed(processes):
            process.stop()
        if broker is not None:
            broker.stop()
    report(results, brokers, args.processes)


PLAIN = "(a) plain aiohttp"
BASE = "base"  # the gateway of --base-tree


def report(results: dict[str, dict[int, Result]], brokers: str, processes: int) -> None:
    print(
        f"closed-loop HTTP, 3-step flow; {processes} gateway process(es) -> Apache Kafka "
        f"({brokers}) -> (b) worker process / (c) raw aiokafka responder"
    )
    print(f"{'':<30}{'conc':>5}{'requests':>9}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'fail':>6}")
    for name, by_concurrency in results.items():
        for c, r in by_concurrency.items():
            print(
                f"{name:<30}{c:>5}{r.requests:>9}{r.rate:>9,.0f}"
                f"{r.percentile(0.5):>8.2f}{r.percentile(0.99):>8.2f}{r.failures:>6}"
            )
    plain = results[PLAIN]
    for name, by_concurrency in results.items():
        if name == PLAIN:
            continue
        for c in CONCURRENCY:
            a, b = plain[c], by_concurrency[c]
            print(
                f"ratio {name} / plain at {c:>2}: req/s {b.rate / a.rate:.3f}, "
                f"p50 {b.percentile(0.5) / a.percentile(0.5):.1f}x, "
                f"p99 {b.percentile(0.99) / a.percentile(0.99):.1f}x"
            )
    for name, by_concurrency in results.items():
        if name.startswith("(b)"):
            one, many = by_concurrency[1], by_concurrency[64]
            print(
                f"targets ({name}): p50 at 1 <= 10 ms: {one.percentile(0.5):.2f} ms; at 64 "
                f">= 2,000 req/s: {many.rate:,.0f}; p99 < 100 ms: {many.percentile(0.99):.1f} ms"
            )


if __name__ == "__main__":
    main()
