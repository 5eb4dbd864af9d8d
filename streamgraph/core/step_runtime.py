"""One step at run time: the single implementation of step semantics every engine calls.

An engine moves events between steps (an in-process call, or a Kafka topic); this module decides
what running a step on an event means: loop limits, input/result paths, full events, outlet
selection, the streaming rule and where an error goes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import OutletError, StreamingError, describe
from ..graph.names import COMPLETE
from .event import Event
from .paths import get_path, set_path

# How a step's callable behaves, decided once when the graph is compiled.
SYNC, ASYNC, GENERATOR, ASYNC_GENERATOR = "sync", "async", "generator", "async_generator"


def call_kind(fn: Callable[..., Any]) -> str:
    target = getattr(fn, "func", fn)  # functools.partial
    if inspect.isasyncgenfunction(target):
        return ASYNC_GENERATOR
    if inspect.isgeneratorfunction(target):
        return GENERATOR
    if inspect.iscoroutinefunction(target):
        return ASYNC
    return SYNC


class StepRuntime:
    """A compiled step: its callable, its outlets and its rules."""

    __slots__ = (
        "ack_on_drop",
        "answers_when_last",
        "call",
        "cyclic",
        "error_target",
        "full_event",
        "function",
        "input_keys",
        "is_error_step",
        "kind",
        "max_iterations",
        "name",
        "obj",
        "outlets",
        "outputs_when_last",
        "plain",
        "plain_answer",
        "plain_output",
        "reaches_responder",
        "responder",
        "result_keys",
        "select",
        "simple",
        "stateful",
        "terminal_queue",
    )

    def __init__(
        self,
        name: str,
        call: Callable[..., Any] | None,
        *,
        obj: Any = None,
        full_event: bool = False,
        input_keys: tuple[str, ...] = (),
        result_keys: tuple[str, ...] = (),
        outlets: tuple[str, ...] = (),
        select: Callable[[Any], Any] | None = None,
        responder: bool = False,
        error_target: str | None = None,
        max_iterations: int = 100,
        cyclic: bool = False,
        stateful: str | None = None,
        is_error_step: bool = False,
        function: str | None = None,
        terminal_queue: str | None = None,
    ) -> None:
        self.name = name
        self.call = call
        self.obj = obj
        self.kind = call_kind(call) if call is not None else SYNC
        self.full_event = full_event
        self.input_keys = input_keys
        self.result_keys = result_keys
        self.outlets = outlets
        self.select = select
        self.responder = responder
        self.error_target = error_target
        self.max_iterations = max_iterations
        self.cyclic = cyclic
        self.stateful = stateful
        self.is_error_step = is_error_step
        self.function = function
        self.terminal_queue = terminal_queue
        # can this step's events still lead to the answer? (set by compile; errors in branches
        # that cannot are logged and dead-lettered but never fail the caller's request)
        self.reaches_responder = True
        # graph-wide rules compile sets on every step, so routing needs only the step:
        # an event with no outlet left is the answer (the sync engine answers with the last
        # result) or the function's output (no responder); a dropped event is acknowledged
        # `{"id"}` when nothing else would answer (a linear graph, or no responder)
        self.answers_when_last = False
        self.outputs_when_last = False
        self.ack_on_drop = False
        # the hot path skips every optional rule when none applies (no visit to count, no
        # stream to refuse: `enter` would do nothing; the callable gets `argument()` straight)
        self.simple = not (input_keys or result_keys or cyclic or self.streaming)
        # ... and a plain result of a simple, stateless step goes to every outlet
        self.plain = self.simple and select is None and not stateful and call is not None
        # what a plain step's plain result leads to, `route` and the rules above applied
        # (set by compile with them): `Forward(event, outlets, plain_answer, plain_output)`
        self.plain_answer = responder
        self.plain_output = responder

    @property
    def streaming(self) -> bool:
        return self.kind in (GENERATOR, ASYNC_GENERATOR)

    # -- before the call ----------------------------------------------------------------------
    def enter(self, event: Event) -> None:
        """Count this visit (cycles) and enforce the streaming rule; raise when broken."""
        if self.cyclic:
            visits = event.visits
            if visits is None:
                visits = event.visits = {}
            count = visits.get(self.name, 0) + 1
            if count > self.max_iterations:
                # a plain RuntimeError, word for word what MLRun raises
                raise RuntimeError(
                    f"Max iterations exceeded in step '{self.name}' for event {event.id}"
                )
            visits[self.name] = count
        if event.chunk is not None and self.streaming:
            raise StreamingError(
                "Streaming on top of streaming is not allowed. "
                f"Step '{self.name}' received a streaming event from '{event.stream_from}'."
            )

    def argument(self, event: Event) -> Any:
        """What the callable receives: the event, or the body (at `input_path`)."""
        if self.full_event:
            return event
        return get_path(event.body, self.input_keys) if self.input_keys else event.body

    def invoke(self, event: Event) -> Any:
        """Enter the step and call it; the result may be awaitable or a generator."""
        self.enter(event)
        assert self.call is not None  # stateful/queue steps are never invoked
        return self.call(self.argument(event))

    # -- after the call -----------------------------------------------------------------------
    def apply(self, event: Event, result: Any) -> Event:
        """The event after the step: the result written at `result_path` (or returned event)."""
        if isinstance(result, Event):
            return result
        if self.result_keys:
            event.body = set_path(event.body, self.result_keys, result)
        else:
            event.body = result
        return event

    def route(self, event: Event) -> tuple[tuple[str, ...], bool]:
        """(outlets to send the event to, whether the responder completes the request)."""
        if self.select is None:
            return self.outlets, self.responder
        chosen = self.select(event if self.full_event else event.body)
        if chosen is None:
            return self.outlets, self.responder
        if isinstance(chosen, str):
            chosen = [chosen]
        names = list(chosen)
        if len(set(names)) != len(names):
            raise OutletError(
                f"Invalid outlet selection for '{self.name}': duplicate outlet names were "
                f"provided ({', '.join(names)})."
            )
        complete = False
        outlets: list[str] = []
        for name in names:
            if name == COMPLETE and self.responder:
                complete = True
            elif name in self.outlets:
                outlets.append(name)
            else:
                allowed = [*self.outlets, *([COMPLETE] if self.responder else [])]
                raise OutletError(
                    f"Invalid outlet '{name}' for '{self.name}'. "
                    f"Allowed outlets are: {', '.join(allowed) or '(none)'}."
                )
        return tuple(outlets), complete

    def fail(self, event: Event, exc: BaseException) -> Event:
        """Mark the event as failed here, for the error handler (or the dead-letter topic)."""
        event.error = describe(exc)
        event.origin_state = self.name
        return event
