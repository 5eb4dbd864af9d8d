"""Benchmark: a 3-step flow through the in-process engine, against calling the steps directly.

Prints requests/s for the async engine, the sync engine and the three functions called
directly (the baseline, measured in the same run), their ratios, and the per-step overhead.

    .venv/bin/python bench/local_engine.py [--requests N]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import streamgraph as sg
from streamgraph.graph.resolve import compile_expression

EXPRESSIONS = ("(event + 1)", "(event + 1)", "(event + 1)")


async def async_inc(event: int) -> int:
    return event + 1


def build_server(engine: str, coroutines: bool = False) -> Any:
    fn = sg.new_function(f"bench-{engine}")
    graph = fn.set_topology("flow", engine=engine)
    step: Any = graph
    for i, expression in enumerate(EXPRESSIONS):
        step = step.to(name=f"s{i}", handler=async_inc if coroutines else expression)
    if engine == "async":
        step.respond()
    return fn.to_mock_server()


def rate(call: Callable[[int], Any], requests: int) -> float:
    """Requests per second of `call`, best of three runs (GC off while timing)."""
    for i in range(min(2000, requests)):  # warm up
        call(i)
    best = 0.0
    for _ in range(3):
        gc.disable()
        start = time.perf_counter()
        for i in range(requests):
            call(i)
        elapsed = time.perf_counter() - start
        gc.enable()
        best = max(best, requests / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()

    f1, f2, f3 = (compile_expression(e, {}, "bench") for e in EXPRESSIONS)

    def direct(x: int) -> Any:
        return f3(f2(f1(x)))

    async_server = build_server("async")
    sync_server = build_server("sync")
    coroutine_server = build_server("async", coroutines=True)
    assert coroutine_server.test(body=1) == 4
    assert async_server.test(body=1) == sync_server.test(body=1) == direct(1) == 4

    direct_rate = rate(direct, args.requests)
    async_rate = rate(lambda i: async_server.test(body=i), args.requests)
    sync_rate = rate(lambda i: sync_server.test(body=i), args.requests)
    # coroutine steps need the event loop: each request crosses to the server's loop thread
    coroutine_rate = rate(lambda i: coroutine_server.test(body=i), args.requests // 5)
    coroutine_server.wait_for_completion()

    steps = len(EXPRESSIONS)
    print(f"3-step flow, {args.requests} requests per run, best of 3, one core")
    print(f"{'path':<28}{'requests/s':>14}{'vs direct':>12}{'overhead/step':>16}")
    print(f"{'direct calls (baseline)':<28}{direct_rate:>14,.0f}{1.0:>12.3f}{'-':>16}")
    for label, value in (
        ("async engine server.test", async_rate),
        ("sync engine server.test", sync_rate),
        ("async engine, async steps", coroutine_rate),
    ):
        overhead = (1 / value - 1 / direct_rate) / steps * 1e6
        print(f"{label:<28}{value:>14,.0f}{value / direct_rate:>12.4f}{overhead:>13.2f} us")
    print(f"targets: async >= 20,000/s ({async_rate / 20_000:.1f}x), ", end="")
    print(f"sync >= 100,000/s ({sync_rate / 100_000:.2f}x)")
    print(
        f"reference: MLRun's async mock server ~4,900/s -> {async_rate / 4_900:.1f}x on this flow"
    )


if __name__ == "__main__":
    main()
