"""Prometheus metrics of the gateway on `GET /metrics`, in a registry of the app's own.

A middleware counts requests by function, path and status, times them and tracks how many are
in flight; timeouts, late replies and the in-flight count are read when scraped. Each app has its
own `CollectorRegistry` (not prometheus_client's global one), so tests and several gateways in
one process never collide. The middleware runs on every request: it keeps the labelled series it
uses (no `labels()` lookup and lock per request) and counts in-flight requests in a plain int.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from time import perf_counter
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

METRICS_PATH = "/metrics"
# distinct paths kept as labels; past that they count as "other" (paths come from callers)
MAX_PATHS = 200
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RepliesCounted(Protocol):
    """What a gateway backend counts (`KafkaRequester`, `LocalBackend`)."""

    timeouts: int
    late_replies: int


class _RequesterCollector(Collector):
    """Timeouts and late replies, as the requester counted them; requests in flight."""

    def __init__(self, function: str, requester: RepliesCounted, metrics: GatewayMetrics) -> None:
        self.function = function
        self.requester = requester
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        in_flight = GaugeMetricFamily(
            "streamgraph_gateway_in_flight", "Requests being answered", labels=["function"]
        )
        in_flight.add_metric([self.function], self.metrics.in_flight)
        yield in_flight
        timeouts = CounterMetricFamily(
            "streamgraph_gateway_timeouts",
            "Requests answered 504: no reply within the request timeout",
            labels=["function"],
        )
        timeouts.add_metric([self.function], self.requester.timeouts)
        yield timeouts
        late = CounterMetricFamily(
            "streamgraph_gateway_late_replies",
            "Replies that came after their request timed out (dropped)",
            labels=["function"],
        )
        late.add_metric([self.function], self.requester.late_replies)
        yield late


class GatewayMetrics:
    """The gateway's metrics: a registry, the middleware that fills it, the /metrics view."""

    def __init__(self, function: str, requester: RepliesCounted) -> None:
        self.function = function
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "streamgraph_gateway_requests",
            "HTTP requests by function, path and status",
            ["function", "path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "streamgraph_gateway_request_seconds",
            "Time from request to the end of the response",
            ["function", "path"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = 0
        self.registry.register(_RequesterCollector(function, requester, self))
        self._latencies: dict[str, Any] = {}  # path -> its histogram series
        self._counts: dict[tuple[str, int], Any] = {}  # (path, status) -> its counter series

    def _path(self, path: str) -> str:
        """The path as a label: itself, or "other" past MAX_PATHS (paths come from callers)."""
        if path in self._latencies:
            return path
        if len(self._latencies) < MAX_PATHS or path == "other":
            self._latencies[path] = self.latency.labels(self.function, path)
            return path
        return self._path("other")

    def _count(self, path: str, status: int) -> Any:
        series = self._counts.get((path, status))
        if series is None:
            series = self.requests.labels(self.function, path, str(status))
            self._counts[(path, status)] = series
        return series

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == METRICS_PATH:
            return await handler(request)
        self.in_flight += 1
        started = perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.in_flight -= 1
            path = self._path(request.path)
            self._latencies[path].observe(perf_counter() - started)
            self._count(path, status).inc()

    async def view(self, request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


METRICS = web.AppKey("metrics", GatewayMetrics)


def install_metrics(app: web.Application, function: str, requester: RepliesCounted) -> None:
    """Count `app`'s requests and serve them on /metrics (call before the catch-all route)."""
    metrics = GatewayMetrics(function, requester)
    app[METRICS] = metrics
    app.middlewares.insert(0, metrics.middleware)  # outermost: 401s are counted too
    app.router.add_get(METRICS_PATH, metrics.view)


__all__ = ["METRICS", "METRICS_PATH", "GatewayMetrics", "install_metrics"]
