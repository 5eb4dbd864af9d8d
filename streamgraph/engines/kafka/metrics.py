"""Prometheus metrics of a Kafka worker, read from the graph's counters at scrape time.

The hot path only bumps plain numbers: `StepStats.record` once per step run (a bisect and a few
dict updates) and the executor's per-step failure count. Everything else — records in and out
per topic, dead letters, in flight, partitions owned, consumer lag per partition — is read when
Prometheus scrapes, by `WorkerCollector`, from what the agents count anyway and from Faust's
consumer.

    registry = worker_registry(graph)                 # a CollectorRegistry of its own
    serve_metrics(registry, port=9108)                # `streamgraph worker --metrics-port`
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

logger = logging.getLogger("streamgraph.kafka.metrics")

# step run time buckets (seconds): from a cheap map step to a slow model call
BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025)
BUCKETS += (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Timing:
    __slots__ = ("counts", "loops", "runs", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0
        self.runs = 0
        self.loops = 0


class StepStats:
    """Per step: runs, run time histogram, and loop iterations (visits after the first)."""

    def __init__(self) -> None:
        self.steps: dict[str, _Timing] = {}

    def record(self, step: str, seconds: float, event: Any = None) -> None:
        timing = self.steps.get(step)
        if timing is None:
            timing = self.steps[step] = _Timing()
        timing.counts[bisect_left(BUCKETS, seconds)] += 1
        timing.total += seconds
        timing.runs += 1
        visits = getattr(event, "visits", None)
        if visits and visits.get(step, 0) > 1:  # it came back through a cycle
            timing.loops += 1


class WorkerCollector(Collector):
    """Reads a `KafkaGraph`'s counters, step stats and consumer offsets when scraped."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.function = graph.topology.function

    def collect(self) -> Iterator[Any]:
        graph, fn = self.graph, self.function
        counters = graph.counters
        yield from self._steps(graph.step_stats, dict(graph.executor.failures))
        expired = CounterMetricFamily(
            "streamgraph_expired_records",
            "Records taken past their request's deadline: acknowledged, the step not run",
            labels=["function", "step"],
        )
        counts = dict(graph.executor.expired.counts)
        for step in [*graph.plan.steps, *(s for s in counts if s not in graph.plan.steps)]:
            expired.add_metric([fn, step], counts.get(step, 0))  # 0s too: a series to rate()
        yield expired
        consumed = CounterMetricFamily(
            "streamgraph_records_consumed", "Records read per topic", labels=["function", "topic"]
        )
        for topic, count in list(counters.consumed.items()):
            consumed.add_metric([fn, topic], count)
        yield consumed
        produced = CounterMetricFamily(
            "streamgraph_records_produced",
            "Records sent per topic (replies and dead letters included)",
            labels=["function", "topic"],
        )
        for topic, count in list(counters.produced.items()):
            produced.add_metric([fn, topic], count)
        yield produced
        dead = CounterMetricFamily(
            "streamgraph_dead_letters",
            "Records sent to the dead-letter topic (unreadable, or failed with no handler)",
            labels=["function"],
        )
        dead.add_metric([fn], counters.produced.get(graph.topology.dlq, 0))
        yield dead
        errors = CounterMetricFamily(
            "streamgraph_delivery_errors",
            "Outputs the broker did not take (their inputs stay unacked for redelivery)",
            labels=["function"],
        )
        errors.add_metric([fn], counters.errors)
        yield errors
        in_flight = GaugeMetricFamily(
            "streamgraph_in_flight", "Events taken but not yet acked", labels=["function"]
        )
        in_flight.add_metric([fn], counters.in_flight)
        yield in_flight
        consumer = getattr(graph.app, "_consumer", None)  # never create one for a scrape
        yield self._owned(consumer)
        yield from self._lag(consumer)

    def _steps(self, stats: StepStats, failures: dict[str, int]) -> Iterator[Any]:
        fn = self.function
        labels = ["function", "step"]
        events = CounterMetricFamily("streamgraph_step_events", "Step runs", labels=labels)
        errors = CounterMetricFamily(
            "streamgraph_step_errors", "Step runs that raised", labels=labels
        )
        loops = CounterMetricFamily(
            "streamgraph_loop_iterations",
            "Visits of a step by an event that came back through a cycle",
            labels=labels,
        )
        latency = HistogramMetricFamily(
            "streamgraph_step_seconds", "Time to run a step on one event", labels=labels
        )
        for step in self.graph.plan.steps:
            timing = stats.steps.get(step) or _Timing()
            events.add_metric([fn, step], timing.runs)
            errors.add_metric([fn, step], failures.get(step, 0))
            loops.add_metric([fn, step], timing.loops)
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), list(timing.counts), strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            latency.add_metric([fn, step], buckets, timing.total)
        yield from (events, errors, loops, latency)

    def _owned(self, consumer: Any) -> GaugeMetricFamily:
        """1 per partition this worker's consumer holds now (its share of the group)."""
        owned = GaugeMetricFamily(
            "streamgraph_partitions_owned",
            "Partitions assigned to this worker now (1 each; none while rebalancing)",
            labels=["function", "topic", "partition"],
        )
        for tp in sorted(_assigned(consumer)):
            owned.add_metric([self.function, tp.topic, str(tp.partition)], 1)
        return owned

    def _lag(self, consumer: Any) -> Iterator[Any]:
        """Per assigned partition: highwater minus the worker's position (see `_offsets`)."""
        labels = ["function", "topic", "partition"]
        lag = GaugeMetricFamily(
            "streamgraph_consumer_lag",
            "Records behind the end of the log: highwater - the worker's position",
            labels=labels,
        )
        highwater = GaugeMetricFamily(
            "streamgraph_consumer_highwater", "Offset of the next record produced", labels=labels
        )
        position = GaugeMetricFamily(
            "streamgraph_consumer_position", "Offset of the next record it takes", labels=labels
        )
        committed = GaugeMetricFamily(
            "streamgraph_consumer_committed",
            "Offset committed for the group (highwater - this: records not yet committed)",
            labels=labels,
        )
        for tp, high, at, done in _offsets(consumer):
            key = [self.function, tp.topic, str(tp.partition)]
            highwater.add_metric(key, high)
            if at is not None:
                position.add_metric(key, at)
                lag.add_metric(key, max(high - at, 0))
            if done is not None:
                committed.add_metric(key, done)
        yield from (lag, highwater, position, committed)


def _offsets(consumer: Any) -> Iterator[tuple[Any, int, int | None, int | None]]:
    """(partition, highwater, position, committed) of each assigned partition with a highwater.

    The position is the offset of the next record the worker takes: its last read one plus one;
    before it read any, the committed offset, else where the consumer fetches from (a group with
    no commit starts at `auto_offset_reset`). Faust's consumer thread updates the highwater with
    each fetch (every few hundred milliseconds while it runs), so every scrape sees it fresh."""
    assigned = _assigned(consumer)
    committed = getattr(consumer, "_committed_offset", {})
    read = getattr(consumer, "_read_offset", {})
    for tp in assigned:
        try:
            high = consumer.highwater(tp)
        except Exception:  # no fetch for it yet / no longer assigned
            continue
        if high is None:
            continue
        done = committed.get(tp)
        last = read.get(tp)
        at = last + 1 if last is not None else done
        if at is None:
            at = _fetch_position(consumer, tp)
        yield tp, int(high), at, done


def _fetch_position(consumer: Any, tp: Any) -> int | None:
    """Where aiokafka fetches `tp` from (None while it resets): read without a call into its
    thread, as a scrape must never wait on the consumer."""
    try:
        state = consumer._thread._consumer._subscription.subscription.assignment.state_value(tp)
        return None if state is None or state.position is None else int(state.position)
    except Exception:  # another driver, or the consumer not started
        return None


def _assigned(consumer: Any) -> list[Any]:
    """The consumer's partitions now; none before it started or while it rebalances."""
    if consumer is None:
        return []
    try:
        return list(consumer.assignment())
    except Exception:  # not started yet, or rebalancing
        return []


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def worker_registry(graph: Any) -> CollectorRegistry:
    """A registry of its own (not the global one) holding the worker's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(graph))
    return registry


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> Any:
    """Serve `/metrics` on a daemon thread (scrapes never wait on the worker's event loop)."""
    server = start_http_server(port, addr=host, registry=registry)
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return server


__all__ = ["BUCKETS", "StepStats", "WorkerCollector", "serve_metrics", "worker_registry"]
