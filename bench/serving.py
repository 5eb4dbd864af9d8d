"""Benchmark: model serving through the in-process engine, against calling `predict` directly.

(a) `/v2/models/<m>/infer` through a router on the mock server, next to the model's own
predict; (b) a ModelRunnerStep with 1, 4 and 16 models per event; (c) a `dedicated_process`
model's round trip, one request at a time and 64 in flight. All in one run; prints
requests/s, overhead per request and the ratios.

    .venv/bin/python bench/serving.py [--requests N] [--dedicated-only]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import streamgraph as sg
from streamgraph.serving.mechanisms import make_runnable


class EchoServer(sg.V2ModelServer):
    """A trivial model: the serving path is what is measured."""

    def load(self) -> None:
        self.model = lambda rows: [sum(r) for r in rows]

    def predict(self, request: dict[str, Any]) -> Any:
        return self.model(request["inputs"])


class Doubler(sg.Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        return {"y": body["x"] * 2}


def rate(call: Callable[[], Any], requests: int) -> float:
    for _ in range(min(1000, requests)):
        call()
    best = 0.0
    for _ in range(3):
        gc.disable()
        start = time.perf_counter()
        for _ in range(requests):
            call()
        elapsed = time.perf_counter() - start
        gc.enable()
        best = max(best, requests / elapsed)
    return best


def async_rate(batch: Callable[[], Any], requests: int, per_batch: int) -> float:
    """Like `rate()`, for a coroutine function answering `per_batch` requests per call."""

    async def timed(batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            await batch()
        return time.perf_counter() - start

    batches = max(1, requests // per_batch)

    async def best() -> float:
        await timed(max(1, min(1000, requests) // per_batch))
        return max([batches * per_batch / await timed(batches) for _ in range(3)])

    return asyncio.run(best())


def dedicated_section(requests: int) -> None:
    doubler = Doubler(name="d")
    direct = rate(lambda: doubler.predict({"x": 1}), requests)
    runnable = make_runnable(Doubler(name="d"), "dedicated_process")
    runnable.load()
    try:
        one = async_rate(lambda: runnable.run({"x": 1}), requests, 1)

        async def in_flight() -> None:
            await asyncio.gather(*(runnable.run({"x": i}) for i in range(64)))

        many = async_rate(in_flight, requests, 64)
    finally:
        runnable.close()
    print(f"dedicated_process round trip ({requests} requests per run, best of 3)")
    print(f"{'path':<34}{'requests/s':>12}{'us/request':>12}")
    print(f"{'predict() directly (baseline)':<34}{direct:>12,.0f}{1e6 / direct:>12.2f}")
    print(f"{'one at a time':<34}{one:>12,.0f}{1e6 / one:>12.1f}")
    print(f"{'64 in flight':<34}{many:>12,.0f}{1e6 / many:>12.1f}")


def router_server() -> Any:
    fn = sg.new_function("bench-router")
    fn.set_topology("router")
    fn.add_model("m", class_name=EchoServer)
    return fn.to_mock_server()


def runner_server(models: int) -> Any:
    fn = sg.new_function(f"bench-runner-{models}")
    graph = fn.set_topology("flow", engine="async")
    runner = sg.ModelRunnerStep(name="runner")
    for i in range(models):
        runner.add_model(f"m{i}", model_class=Doubler, execution_mechanism="naive")
    graph.to(runner).respond()
    return fn.to_mock_server()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--dedicated-only", action="store_true", help="only part (c)")
    args = parser.parse_args()
    n = args.requests
    if args.dedicated_only:
        dedicated_section(n // 5)
        return
    body = {"inputs": [[1, 2, 3]]}

    router = router_server()
    direct_model = EchoServer(name="direct")
    direct_model.load()
    assert router.test("/v2/models/m/infer", body=body)["outputs"] == [6]
    direct = rate(lambda: direct_model.predict(body), n)
    routed = rate(lambda: router.test("/v2/models/m/infer", body=body), n)

    print(f"V2 infer through the router, {n} requests per run, best of 3, one core")
    print(f"{'path':<34}{'requests/s':>12}{'vs direct':>11}{'overhead':>14}")
    print(f"{'predict() directly (baseline)':<34}{direct:>12,.0f}{1.0:>11.3f}{'-':>14}")
    over = (1 / routed - 1 / direct) * 1e6
    label = "/v2/models/m/infer (mock server)"
    print(f"{label:<34}{routed:>12,.0f}{routed / direct:>11.4f}{over:>11.1f} us")
    print(f"target >= 60,000/s: {routed / 60_000:.2f}x; ", end="")
    print(f"MLRun's router mock ~43,000/s: {routed / 43_000:.2f}x")

    print()
    print(f"ModelRunnerStep, models per event ({n // 5} requests per run)")
    doubler = Doubler(name="d")
    model_direct = rate(lambda: doubler.predict({"x": 1}), n)
    rates = {}
    for count in (1, 4, 16):
        server = runner_server(count)
        rates[count] = rate(lambda s=server: s.test(body={"x": 1}), n // 5)
        server.wait_for_completion()
    print(f"{'models':<10}{'requests/s':>12}{'us/request':>12}{'time vs 1 model':>18}")
    print(f"{'predict':<10}{model_direct:>12,.0f}{1e6 / model_direct:>12.1f}{'-':>18}")
    for count, value in rates.items():
        print(f"{count:<10}{value:>12,.0f}{1e6 / value:>12.1f}{rates[1] / value:>18.2f}")
    print(f"target: 16 models at most 3x the time of 1 model: {rates[1] / rates[16]:.2f}x")

    print()
    dedicated_section(n // 5)


if __name__ == "__main__":
    main()
