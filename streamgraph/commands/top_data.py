"""What `streamgraph top` shows, computed from the workers' Prometheus text (no drawing here).

    now = parse_snapshot({url: text, ...}, at=time.monotonic())
    view = step_view(previous, now)     # previous: the snapshot a second ago, or None
    view.rows                           # per step: events/s, lag, p50, p99, errors

Rates are the counters' growth between two snapshots over the time between them, summed over
the workers (a worker that restarted counts from zero again: a fall counts as no growth). The
step time quantiles come from the `streamgraph_step_seconds` buckets as Prometheus's
`histogram_quantile` reads them (linear within the bucket holding the rank), over the runs of
the last interval, or over every run so far when the interval had none.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Snapshot:
    """Every sample of every endpoint that answered, at one moment (a monotonic clock)."""

    at: float
    samples: dict[str, dict[tuple[str, Labels], float]]  # endpoint -> (name, labels) -> value
    failed: dict[str, str] = field(default_factory=dict)  # endpoint -> why it did not answer

    def total(self, name: str, **match: str) -> dict[Labels, float]:
        """`name`'s samples summed over the endpoints, by labels (less `match`'s, matched)."""
        found: dict[Labels, float] = defaultdict(float)
        for samples in self.samples.values():
            for (sample, labels), value in samples.items():
                if sample == name and _matches(labels, match):
                    found[labels] += value
        return dict(found)


@dataclass(frozen=True)
class StepRow:
    """One line of the view: a step (or a topic no step reads, such as the entry `in`)."""

    name: str
    events_per_second: float | None = None  # None: one snapshot only, no rate yet
    lag: float | None = None  # records behind the end of its topic's log, all partitions
    p50: float | None = None  # seconds
    p99: float | None = None
    errors: float = 0.0


@dataclass(frozen=True)
class StepView:
    """One function's steps, and what is said of the function as a whole."""

    function: str
    rows: list[StepRow]
    workers: int  # endpoints that answered with this function's metrics
    dead_letters: float
    in_flight: float
    failed: dict[str, str]


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """Prometheus text as {(sample name, sorted labels): value}."""
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def parse_snapshot(texts: Mapping[str, str], at: float, failed: Mapping[str, str] = {}) -> Snapshot:
    return Snapshot(at, {url: parse(text) for url, text in texts.items()}, dict(failed))


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative (upper bound, count) buckets, as `histogram_quantile`."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):  # beyond the last finite bound: say the bound
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def rate(now: float, before: float | None, seconds: float) -> float | None:
    if before is None or seconds <= 0:
        return None
    return max(now - before, 0.0) / seconds


def functions(snapshot: Snapshot) -> list[str]:
    """The functions whose steps the endpoints report."""
    names = {dict(labels)["function"] for labels in snapshot.total("streamgraph_step_events_total")}
    return sorted(names)


def step_view(previous: Snapshot | None, now: Snapshot, function: str) -> StepView:
    """The view of `function` at `now`, rates since `previous`."""
    fn = {"function": function}
    seconds = now.at - previous.at if previous is not None else 0.0
    events = _by(now.total("streamgraph_step_events_total", **fn), "step")
    events_before = (
        _by(previous.total("streamgraph_step_events_total", **fn), "step")
        if (previous is not None)
        else {}
    )
    errors = _by(now.total("streamgraph_step_errors_total", **fn), "step")
    lags = _by(now.total("streamgraph_consumer_lag", **fn), "topic")
    # a step's topic ends in `.<step>`; Faust's own (`...-__assignor-__leader`) are left out
    step_lag = {t.rsplit(".", 1)[-1]: lag for t, lag in lags.items() if "__" not in t}
    rows = []
    for step in sorted(events, key=_step_order(now, function)):
        cumulative = _buckets(now, function, step)
        recent = cumulative
        if previous is not None:
            earlier = dict(_buckets(previous, function, step))
            recent = [(le, count - earlier.get(le, 0.0)) for le, count in cumulative]
            if not recent or recent[-1][1] <= 0:  # no run in the interval: every run so far
                recent = cumulative
        rows.append(
            StepRow(
                step,
                rate(events[step], events_before.get(step), seconds),
                step_lag.pop(step, None),
                quantile(0.5, recent),
                quantile(0.99, recent),
                errors.get(step, 0.0),
            )
        )
    # topics no step is named after (the entry `in`, queues): their lag on rows of their own
    others = [StepRow(f"({topic})", lag=lag) for topic, lag in sorted(step_lag.items())]
    workers = sum(
        1
        for samples in now.samples.values()
        if any(
            n == "streamgraph_in_flight" and ("function", function) in labels
            for n, labels in samples
        )
    )
    return StepView(
        function,
        others + rows,
        workers,
        sum(now.total("streamgraph_dead_letters_total", **fn).values()),
        sum(now.total("streamgraph_in_flight", **fn).values()),
        dict(now.failed),
    )


def _matches(labels: Labels, match: Mapping[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(key) == value for key, value in match.items())


def _by(samples: Mapping[Labels, float], label: str) -> dict[str, float]:
    found: dict[str, float] = defaultdict(float)
    for labels, value in samples.items():
        found[dict(labels).get(label, "")] += value
    return dict(found)


def _buckets(snapshot: Snapshot, function: str, step: str) -> list[tuple[float, float]]:
    counts = _by(
        snapshot.total("streamgraph_step_seconds_bucket", function=function, step=step), "le"
    )
    return sorted((float(le), count) for le, count in counts.items())


def _step_order(snapshot: Snapshot, function: str) -> Any:
    """Steps in the order the worker reports them (the graph's), not alphabetically."""
    order: dict[str, int] = {}
    for samples in snapshot.samples.values():
        for name, labels in samples:
            have = dict(labels)
            if name == "streamgraph_step_events_total" and have.get("function") == function:
                order.setdefault(have["step"], len(order))
    return lambda step: order.get(step, len(order))


__all__ = [
    "Snapshot",
    "StepRow",
    "StepView",
    "functions",
    "parse",
    "parse_snapshot",
    "quantile",
    "rate",
    "step_view",
]
