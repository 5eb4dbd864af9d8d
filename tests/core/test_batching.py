"""A Batch step's policy (`core.batching`), checked on its own with a timer the test drives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import streamgraph as sg
from streamgraph.core.batching import Batcher, Flush, member_answers
from streamgraph.core.compile import compile_graph
from streamgraph.core.context import GraphContext
from streamgraph.core.event import Event
from streamgraph.core.outcome import DeadLetter
from streamgraph.core.step_runtime import StepRuntime


class FakeTimer:
    """Records what was scheduled; the test fires it."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[float, Callable[[], object], FakeHandle]] = []

    def __call__(self, delay: float, callback: Callable[[], object]) -> FakeHandle:
        handle = FakeHandle()
        self.scheduled.append((delay, callback, handle))
        return handle


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def batch_step(cyclic: bool = False, **batch_args: Any) -> StepRuntime:
    fn = sg.new_function("b")
    graph = fn.set_topology("flow", allow_cyclic=cyclic)
    step = graph.to("storey.Batch", name="b", max_iterations=2 if cyclic else None, **batch_args)
    step.to(name="after", handler="(event)")
    if cyclic:
        graph["after"].cycle_to(["b"])
    assert isinstance(graph, sg.RootFlowStep)
    return compile_graph(graph, {}, GraphContext()).steps["b"]


def batcher(**batch_args: Any) -> tuple[Batcher[int], FakeTimer, list[Flush[int]]]:
    timer = FakeTimer()
    fired: list[Flush[int]] = []
    return Batcher(batch_step(**batch_args), timer, fired.append), timer, fired


def test_max_events_alone_sets_no_timer_and_flushes_when_full() -> None:
    b, timer, _ = batcher(max_events=3)
    assert b.add(Event(0), 0) is None
    assert b.add(Event(1), 1) is None
    assert timer.scheduled == []
    full = b.add(Event(2), 2)
    assert isinstance(full, Flush)
    assert full.outcome.event.body == [0, 1, 2]
    assert full.outcome.outlets == ("after",)
    assert full.tags == [0, 1, 2]
    assert not b.buffered


def test_flush_after_seconds_alone_has_no_size_bound() -> None:
    b, timer, fired = batcher(flush_after_seconds=5)
    for i in range(1500):
        assert b.add(Event(i), i) is None
    # one timer, from the first event of the batch
    assert [delay for delay, _, _ in timer.scheduled] == [5]
    timer.scheduled[0][1]()
    assert [len(f.tags) for f in fired] == [1500]
    assert not b.buffered


def test_a_full_batch_calls_its_timer_off_and_the_next_batch_starts_its_own() -> None:
    b, timer, fired = batcher(max_events=2, flush_after_seconds=1)
    b.add(Event(0), 0)
    assert isinstance(b.add(Event(1), 1), Flush)
    assert timer.scheduled[0][2].cancelled
    b.add(Event(2), 2)
    assert len(timer.scheduled) == 2 and not timer.scheduled[1][2].cancelled
    timer.scheduled[1][1]()
    assert [f.tags for f in fired] == [[2]]


def test_each_key_has_its_own_buffer_and_timer() -> None:
    b, timer, fired = batcher(max_events=2, flush_after_seconds=1, key_field="k")
    b.add(Event({"k": "x", "i": 0}), 0)
    b.add(Event({"k": "y", "i": 1}), 1)
    assert len(timer.scheduled) == 2
    full = b.add(Event({"k": "x", "i": 2}), 2)
    assert isinstance(full, Flush) and full.tags == [0, 2]
    assert [f.tags for f in b.flush_all()] == [[1]]
    assert timer.scheduled[1][2].cancelled
    assert fired == []


def test_each_visit_counts_towards_max_iterations() -> None:
    b, _, _ = batcher(cyclic=True, max_events=1)
    event = Event({"n": 0}, "e1")
    for _ in range(2):
        assert isinstance(b.add(event, 0), Flush)
    broken = b.add(event, 0)
    assert isinstance(broken, DeadLetter)
    assert "Max iterations exceeded in step 'b' for event e1" in str(broken.error)
    assert not b.buffered


@pytest.mark.parametrize(
    ("body", "answers"),
    [([10, 20], [10, 20]), ({"all": 1}, [{"all": 1}, {"all": 1}]), ([1], [[1], [1]])],
)
def test_member_answers_split_a_list_of_one_item_per_member(body: Any, answers: Any) -> None:
    b, _, _ = batcher(max_events=2)
    b.add(Event(0), 0)
    full = b.add(Event(1), 1)
    assert isinstance(full, Flush)
    batch = full.outcome.event
    batch.body = body
    pairs = member_answers(batch)
    assert [member.body for member, _ in pairs] == [0, 1]
    assert [answer for _, answer in pairs] == answers
