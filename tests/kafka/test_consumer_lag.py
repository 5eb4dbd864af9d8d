"""`streamgraph_consumer_lag`: records behind the end of the log, highwater minus the worker's
position (not its committed offset), read from Faust's consumer when scraped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streamgraph.engines.kafka.metrics import WorkerCollector

IN, OUT = TP("f.in", 0), TP("f.in", 1)


class Consumer:
    """Faust's consumer as the collector reads it: assignment, highwater, read and committed."""

    def __init__(self, high: dict[TP, int], read: dict[TP, int], committed: dict[TP, int]):
        self.high, self._read_offset, self._committed_offset = high, read, committed
        positions = {tp: SimpleNamespace(position=0) for tp in high}
        assignment = SimpleNamespace(state_value=positions.get)
        subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
        self._thread = SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription))

    def assignment(self) -> set[TP]:
        return set(self.high)

    def highwater(self, tp: TP) -> int:
        return self.high[tp]


def gauges(consumer: Any) -> dict[tuple[str, int], dict[str, float]]:
    collector = object.__new__(WorkerCollector)
    collector.function = "f"
    found: dict[tuple[str, int], dict[str, float]] = {}
    for family in collector._lag(consumer):
        for sample in family.samples:
            key = (sample.labels["topic"], int(sample.labels["partition"]))
            found.setdefault(key, {})[family.name.removeprefix("streamgraph_consumer_")] = (
                sample.value
            )
    return found


def test_lag_counts_from_the_position_not_the_commit() -> None:
    # read up to offset 89 (the next it takes is 90), committed only 50, log ends at 100
    found = gauges(Consumer({IN: 100}, read={IN: 89}, committed={IN: 50}))
    assert found[("f.in", 0)] == {"lag": 10, "highwater": 100, "position": 90, "committed": 50}


def test_caught_up_is_zero_even_before_the_commit() -> None:
    found = gauges(Consumer({IN: 100}, read={IN: 99}, committed={IN: 60}))
    assert found[("f.in", 0)]["lag"] == 0


def test_a_partition_not_read_yet_counts_from_its_commit_else_its_fetch_position() -> None:
    found = gauges(Consumer({IN: 30, OUT: 7}, read={}, committed={IN: 20}))
    assert found[("f.in", 0)]["lag"] == 10  # N records produced past the group's commit
    assert found[("f.in", 1)]["lag"] == 7  # no commit: from where it fetches (here: 0)
    assert "committed" not in found[("f.in", 1)]


def test_no_consumer_no_lag() -> None:
    assert gauges(None) == {}
