"""What a Batch step does, the same on every engine: buffers per key, flushed when full or timed.

As storey's Batch: a buffer per batch key (`Batch.key_of`) is emitted when it holds `max_events`
events or `flush_after_seconds` after its first event, whichever comes first; without
`max_events` a buffer has no size bound, without `flush_after_seconds` it has no timer (both
only end when the graph is drained). Every event entering the step is a visit first
(`StepRuntime.enter`: in a cycle it counts towards `max_iterations`), so a Batch breaks a loop
limit the same way in process and on Kafka.

The engine owns the clock and the carrying: it gives a `Timer` (`loop.call_later` fits) and
carries out what a flush emits, the outcome of ONE event whose body is the list of bodies and
which answers each member separately (`member_answers`). With each event the engine may keep a
tag of its own (the Kafka engine keeps the record, to acknowledge it once the batch is sent).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .builtins import Batch
from .event import Event
from .outcome import DeadLetter, Forward, ToErrorHandler, failure, pass_on
from .step_runtime import StepRuntime

T = TypeVar("T")


class Cancellable(Protocol):
    """A scheduled callback that can be called off (`asyncio.TimerHandle`)."""

    def cancel(self) -> None: ...


class Timer(Protocol):
    """Run `callback` once after `delay` seconds, on the engine's event loop."""

    def __call__(self, delay: float, callback: Callable[[], object], /) -> Cancellable: ...


@dataclass(slots=True)
class Flush(Generic[T]):
    """A batch to emit: the outcome to carry out for `step`, and the engine's tags of its
    members, in order."""

    step: StepRuntime
    outcome: Forward
    tags: list[T]


class Batcher(Generic[T]):
    """The buffers and timers of one Batch step.

    `add` returns what to carry out now (a full batch, or the step's failure); a batch whose
    timer fires goes to `on_timer`, which the engine's loop calls (never from inside `add`).
    """

    def __init__(
        self, step: StepRuntime, timer: Timer, on_timer: Callable[[Flush[T]], None]
    ) -> None:
        self.step = step
        self.batch: Batch = step.obj
        self._timer = timer
        self._on_timer = on_timer
        self._buffers: dict[str, list[tuple[Event, T]]] = {}
        self._timers: dict[str, Cancellable] = {}

    def add(self, event: Event, tag: T) -> Flush[T] | ToErrorHandler | DeadLetter | None:
        """Count the visit and buffer `event` with `tag`: the batch when this filled it, the
        step's failure when the visit broke a rule (a loop limit), None while the batch waits."""
        step = self.step
        try:
            step.enter(event)
            key = self.batch.key_of(event)
        except Exception as exc:
            return failure(step, event, exc)
        buffer = self._buffers.setdefault(key, [])
        buffer.append((event, tag))
        max_events = self.batch.max_events
        if max_events and len(buffer) >= max_events:
            return self.flush(key)
        seconds = self.batch.flush_after_seconds
        if len(buffer) == 1 and seconds is not None:  # the timer runs from the first event
            self._timers[key] = self._timer(seconds, functools.partial(self._fire, key))
        return None

    def flush(self, key: str) -> Flush[T] | None:
        """Take the buffer of `key` now (its timer called off); None when it is empty."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        entries = self._buffers.pop(key, None)
        if not entries:
            return None
        batch = batched_event([event for event, _ in entries])
        return Flush(self.step, pass_on(self.step, batch), [tag for _, tag in entries])

    def flush_all(self) -> list[Flush[T]]:
        """Every partly filled batch, now (the graph is being drained)."""
        flushes = (self.flush(key) for key in list(self._buffers))
        return [flushed for flushed in flushes if flushed is not None]

    @property
    def buffered(self) -> bool:
        """Whether some event waits in a buffer."""
        return bool(self._buffers)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)  # (it fired: nothing to cancel)
        flushed = self.flush(key)
        if flushed is not None:
            self._on_timer(flushed)


def batched_event(events: list[Event]) -> Event:
    """One event whose body is the list of bodies; it answers each member separately."""
    batch = events[0].copy(body=[e.body for e in events])
    batch.members = events
    batch.reply = None
    # it serves every member: it expires only when all of them did
    deadlines = [e.deadline for e in events]
    batch.deadline = None if None in deadlines else max(deadlines)  # type: ignore[type-var]
    return batch


def member_answers(batch: Event) -> list[tuple[Event, Any]]:
    """Each member of a batched event with its answer: its own item when the body is a list of
    one item per member (a step that answered each), else the whole body."""
    members = batch.members or []
    body = batch.body
    if isinstance(body, list) and len(body) == len(members):
        return list(zip(members, body, strict=True))
    return [(member, body) for member in members]
