"""`streamgraph top`'s numbers: Prometheus text parsed, rates between two scrapes, step time
quantiles from histogram buckets, lag per step's topic, summed over workers."""

from __future__ import annotations

import pytest

from streamgraph.commands.top_data import parse_snapshot, quantile, rate, step_view


def worker(runs: int, errors: int, fast: int, lag: int, partition: int = 0) -> str:
    """A worker's metrics: step `a` (runs, `fast` of them under 1 ms, the rest under 10 ms)."""
    return f"""\
# TYPE streamgraph_step_events counter
streamgraph_step_events_total{{function="f",step="b"}} 0
streamgraph_step_events_total{{function="f",step="a"}} {runs}
# TYPE streamgraph_step_errors counter
streamgraph_step_errors_total{{function="f",step="a"}} {errors}
# TYPE streamgraph_step_seconds histogram
streamgraph_step_seconds_bucket{{function="f",step="a",le="0.001"}} {fast}
streamgraph_step_seconds_bucket{{function="f",step="a",le="0.01"}} {runs}
streamgraph_step_seconds_bucket{{function="f",step="a",le="+Inf"}} {runs}
streamgraph_step_seconds_count{{function="f",step="a"}} {runs}
streamgraph_step_seconds_sum{{function="f",step="a"}} 0.1
# TYPE streamgraph_dead_letters counter
streamgraph_dead_letters_total{{function="f"}} 1
# TYPE streamgraph_in_flight gauge
streamgraph_in_flight{{function="f"}} 2
# TYPE streamgraph_consumer_lag gauge
streamgraph_consumer_lag{{function="f",topic="sg.f.a",partition="{partition}"}} {lag}
streamgraph_consumer_lag{{function="f",topic="sg.f.in",partition="{partition}"}} 1
"""


def test_quantile_reads_buckets_as_histogram_quantile() -> None:
    buckets = [(0.001, 50.0), (0.01, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == 0.001  # the rank falls at the first bound
    assert quantile(0.99, buckets) == pytest.approx(0.001 + 0.009 * 49 / 50)
    assert quantile(0.25, buckets) == pytest.approx(0.0005)  # linear from 0 in the first
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None  # no runs
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == 0.1  # past the last bound


def test_rate_is_growth_over_time_and_a_restart_is_no_growth() -> None:
    assert rate(30.0, 10.0, 2.0) == 10.0
    assert rate(5.0, 10.0, 1.0) == 0.0
    assert rate(5.0, None, 1.0) is None


def test_the_view_sums_workers_and_rates_between_scrapes() -> None:
    before = parse_snapshot({"w1": worker(100, 1, 50, 0), "w2": worker(0, 0, 0, 0, 1)}, at=10.0)
    now = parse_snapshot(
        {"w1": worker(300, 3, 250, 5), "w2": worker(100, 0, 0, 2, 1)},
        at=12.0,
        failed={"w3": "connection refused"},
    )
    view = step_view(before, now, "f")
    assert [row.name for row in view.rows] == ["(in)", "b", "a"]  # the graph's order
    entry, b, a = view.rows
    assert entry.lag == 2 and entry.events_per_second is None
    assert b.events_per_second == 0 and b.p50 is None
    assert a.events_per_second == 150  # (200 + 100) runs in 2 s
    assert a.lag == 7 and a.errors == 3
    # the interval's 300 runs: 200 under 1 ms, 100 between 1 and 10 ms
    assert a.p50 == pytest.approx(0.00075)
    assert a.p99 == pytest.approx(0.001 + 0.009 * 97 / 100)
    assert view.workers == 2 and view.dead_letters == 2 and view.in_flight == 4
    assert view.failed == {"w3": "connection refused"}


def test_the_first_snapshot_has_no_rate_and_quantiles_over_every_run() -> None:
    view = step_view(None, parse_snapshot({"w1": worker(10, 0, 10, 0)}, at=1.0), "f")
    a = view.rows[-1]
    assert a.events_per_second is None
    assert a.p99 == pytest.approx(0.00099)
