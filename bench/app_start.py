"""How long a function takes to come up on Kafka: the test harness's start, with streamgraph's
table manager against Faust's (the baseline, measured in the same run, rounds interleaved).

Each round builds a 2-step flow and starts it with `KafkaServer` (the Faust app, its topics,
the consumer group settled, a requester), answers one request, and stops it. Every Kafka test
and every worker process pays this start; Faust's table manager sleeps 1 s in it.

    .venv/bin/python bench/app_start.py [--rounds N] [--brokers host:port]

Without --brokers it starts a local Apache Kafka (streamgraph.broker.LocalKafka) and stops it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from faust.tables import TableManager

import streamgraph as sg
from streamgraph.engines.kafka.harness import KafkaServer
from streamgraph.engines.kafka.transport import LeanTableManager

VARIANTS: dict[str, type] = {"faust": TableManager, "streamgraph": LeanTableManager}


def inc(x: int) -> int:
    return x + 1


def start_once(brokers: str, table_manager: type) -> float:
    """Seconds from KafkaServer() to its answer of one request; the server stopped after."""
    fn = sg.new_function("start")  # each server has topics of its own (a fresh prefix)
    fn.set_topology("flow").to(name="a", handler="inc").to(name="b", handler="inc").respond()
    began = time.perf_counter()
    server = KafkaServer(
        fn, brokers, namespace={"inc": inc}, app_options={"TableManager": table_manager}
    )
    try:
        assert server.test(body=1) == 3
        return time.perf_counter() - began
    finally:
        server.close()


def run(brokers: str, rounds: int) -> dict[str, list[float]]:
    start_once(brokers, LeanTableManager)  # warm-up: imports, the broker's first topics
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for index in range(rounds):
        for name, manager in VARIANTS.items():
            times[name].append(start_once(brokers, manager))
        print(f"round {index + 1}/{rounds}", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--brokers", default=None)
    args = parser.parse_args()
    broker: Any = None
    brokers = args.brokers
    if brokers is None:
        from streamgraph.broker import LocalKafka

        broker = LocalKafka().start()
        brokers = broker.bootstrap_servers
    try:
        times = run(brokers, args.rounds)
    finally:
        if broker is not None:
            broker.stop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:>12} table manager: start to first answer median {medians[name]:.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} starts)"
        )
    print(f"ratio streamgraph/faust: {medians['streamgraph'] / medians['faust']:.2f}x the time")


if __name__ == "__main__":
    main()
