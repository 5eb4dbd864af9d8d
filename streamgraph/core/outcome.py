"""What a step's result leads to: the one routing decision every engine carries out.

An engine calls a step (`StepRuntime.invoke`, awaiting it when needed) and hands the result to
`outcome()`; a step that raised goes to `failure()`. The answer is an `Outcome`: forward the event
to some outlets (and maybe answer the caller with it), drop it, fan a list out, stream chunks,
send it to the error handler, or dead-letter it. Engines only carry outcomes out: the local
engine pushes the next steps on its work stack, the Kafka executor writes records. Nothing here
does I/O, so the same graph means the same thing in process and on Kafka.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, MutableMapping
from dataclasses import dataclass
from types import AsyncGeneratorType, GeneratorType
from typing import Any, Literal, overload

from ..errors import describe, status_of
from . import tracing
from .event import Event
from .request_deadline import expired
from .results import DROP, Many
from .step_runtime import StepRuntime


@dataclass(slots=True)
class Forward:
    """Send `event` to `outlets`; `answer`: it is the caller's answer (a value, a chunk or the
    end of a stream); `output`: the result leaves the graph here (Kafka's output topic)."""

    event: Event
    outlets: tuple[str, ...]
    answer: bool = False
    output: bool = False


@dataclass(slots=True)
class Drop:
    """The event stops here. `acknowledge`: nothing else will answer the caller, so answer
    `{"id": <event id>}` now (False while a Merge or Collector waits for more)."""

    event: Event
    acknowledge: bool


@dataclass(slots=True)
class FanOut:
    """A flat-mapped result: each event goes on as its own, through `forward(step, event)`
    (an engine may do that when it gets to each one, depth-first)."""

    step: StepRuntime
    events: list[Event]


@dataclass(slots=True)
class Stream:
    """A generator's result: each value goes on through `chunk()`, then `end_of_stream()`."""

    step: StepRuntime
    event: Event
    chunks: Any  # a generator or an async generator


@dataclass(slots=True)
class ToErrorHandler:
    """The failed event (with `error` and `origin_state` set) goes to the step `target`."""

    event: Event
    target: str


@dataclass(slots=True)
class DeadLetter:
    """No error handler: the failed copy is a dead letter, and the callers whose answer could
    still come from this path (`answer_caller`) are answered the error with `status`."""

    event: Event
    step: str
    error: Exception
    status: int
    answer_caller: bool


@dataclass(slots=True)
class Expired:
    """`event` is past its deadline (`core.request_deadline`): the step did not run. The engine
    drops the event (on Kafka: acknowledged, not dead-lettered) and counts it; nobody waits for
    it."""

    event: Event
    step: str


Outcome = Forward | Drop | FanOut | Stream | ToErrorHandler | DeadLetter | Expired

# results that are surely not awaitable nor generators: the fast path skips the checks for them
PLAIN_RESULTS = frozenset({dict, list, str, int, float, bool, bytes, tuple, type(None)})

# stateful steps whose entries `merge` keeps (a Batch's buffers and timers: core.batching)
MERGING = ("merge", "collector")


@overload
def run_step_now(
    step: StepRuntime, event: Event, state: MutableMapping[str, Any] | None = None
) -> Outcome: ...


@overload
def run_step_now(
    step: StepRuntime,
    event: Event,
    state: MutableMapping[str, Any] | None,
    in_loop: Literal[True],
) -> Outcome | Awaiting: ...


def run_step_now(
    step: StepRuntime,
    event: Event,
    state: MutableMapping[str, Any] | None = None,
    in_loop: bool = False,
) -> Outcome | Awaiting:
    """Run `step` on `event` (a Merge or Collector keeps its entries in `state`) and say what
    that leads to; a step's error is an outcome too: this never raises for one.

    With no event loop (the local fast path, a graph of plain functions) a step that returns an
    awaitable or a generator fails. `in_loop` (what `run_step` passes): a generator streams, and
    an awaitable comes back as `Awaiting`, for the caller to await."""
    if event.deadline is not None and expired(event):
        return Expired(event, step.name)
    if tracing.ENABLED:
        span = _step_span(step, event)
    elif step.plain and not event.end_of_stream:
        out = _call_plain(step, event, in_loop)
        if out is None:
            return Forward(event, step.outlets, step.plain_answer, step.plain_output)
        return out
    else:
        span = None
    try:
        out = None
        if step.stateful or event.end_of_stream:
            out = _without_call(step, event, state)
        if out is None:
            # (a simple step's `enter` has nothing to check: call it straight)
            if step.simple:
                result = step.call(event if step.full_event else event.body)  # type: ignore[misc]
            else:
                result = step.invoke(event)
            after = _after_call(step, event, result, span, in_loop)
            if isinstance(after, Awaiting):
                return after  # (its span ends when it is awaited)
            out = after
    except Exception as exc:
        out = failure(step, event, exc)
    if span is not None:
        _end_step_span(span, out)
    return out


def run_plain(step: StepRuntime, event: Event) -> Outcome | None:
    """`run_step_now` for a `plain` step with no event loop, for an engine that carries a
    plain result without an outcome: None when the step returned one, `event` (its body now
    the result) goes on as `Forward(event, step.outlets, step.plain_answer, step.plain_output)`
    says, made only if the engine needs it."""
    if event.deadline is not None or event.end_of_stream or tracing.ENABLED:
        return run_step_now(step, event)
    return _call_plain(step, event, False)


@overload
def _call_plain(step: StepRuntime, event: Event, in_loop: Literal[False]) -> Outcome | None: ...


@overload
def _call_plain(step: StepRuntime, event: Event, in_loop: bool) -> Outcome | Awaiting | None: ...


def _call_plain(step: StepRuntime, event: Event, in_loop: bool) -> Outcome | Awaiting | None:
    """Call a `plain` step: None when it returned a plain result, which is the event's body
    now, for every outlet (what `outcome()` decides for one, without its checks for DROP, Many
    or an Event: `route` has no choice to make); else what the result leads to. The common
    case of every engine, once per step and event."""
    try:
        result = step.call(event if step.full_event else event.body)  # type: ignore[misc]
        if type(result) in PLAIN_RESULTS:
            event.body = result
            return None
        return _after_call(step, event, result, None, in_loop)
    except Exception as exc:
        return failure(step, event, exc)


def _after_call(
    step: StepRuntime, event: Event, result: Any, span: Any, in_loop: bool
) -> Outcome | Awaiting:
    """What the step's `result` leads to; an awaitable is `Awaiting` in a loop, an error
    (raised, for the caller's `failure()`) without one, and so is a generator."""
    if type(result) not in PLAIN_RESULTS:
        if inspect.isawaitable(result):
            if in_loop:
                return Awaiting(step, event, result, span)
            raise _needs_loop(step, result)
        if type(result) is GeneratorType and not in_loop:
            raise _needs_loop(step, result)
    return outcome(step, event, result)


async def run_step(
    step: StepRuntime, event: Event, state: MutableMapping[str, Any] | None = None
) -> Outcome:
    """`run_step_now` in an event loop: a step may be a coroutine, or stream."""
    out = run_step_now(step, event, state, True)
    if isinstance(out, Awaiting):
        return await out.outcome()
    return out


@dataclass(slots=True)
class Awaiting:
    """A step's awaitable result, not awaited yet (`run_step_now(..., in_loop=True)`)."""

    step: StepRuntime
    event: Event
    result: Awaitable[Any]
    span: Any

    async def outcome(self) -> Outcome:
        """What the step's result, once awaited, leads to (its error included)."""
        step, event = self.step, self.event
        try:
            out = outcome(step, event, await self.result)
        except Exception as exc:
            out = failure(step, event, exc)
        if self.span is not None:
            _end_step_span(self.span, out)
        return out


def _needs_loop(step: StepRuntime, result: Any) -> TypeError:
    if inspect.iscoroutine(result):
        result.close()  # (never to be awaited: no "never awaited" warning)
    return TypeError(
        f"step {step.name} returned {type(result).__name__} but the graph was "
        "compiled for plain functions"
    )


def _step_span(step: StepRuntime, event: Event) -> Any:
    """The span of one step run (tracing on): what the step sends on is its child."""
    return tracing.start_span(
        f"step {step.name}", event, attributes={"streamgraph.step": step.name}
    )


def _end_step_span(span: Any, out: Outcome) -> None:
    error = None
    if type(out) is Forward:
        if out.event.trace is None:  # a step that returned an Event of its own making
            out.event.trace = tracing.context_of(span)
    elif type(out) is ToErrorHandler or type(out) is DeadLetter:
        error = out.event.error
    tracing.end_span(span, error)


def _without_call(
    step: StepRuntime, event: Event, state: MutableMapping[str, Any] | None
) -> Outcome | None:
    """Merges and end markers never call the step; None: call it."""
    if step.stateful in MERGING:
        assert state is not None
        return merge(step, event, state)
    if event.end_of_stream:
        return pass_on(step, event)
    return None


def outcome(step: StepRuntime, event: Event, result: Any) -> Outcome:
    """What `step` returning `result` for `event` leads to (awaitables already awaited)."""
    if result is DROP:
        # a dropped chunk ends nothing: the stream's end marker still reaches the caller
        return Drop(event, step.ack_on_drop and event.chunk is None)
    kind = type(result)
    if kind is Many:
        return FanOut(step, [event.copy(body=item) for item in result])
    if kind is GeneratorType or kind is AsyncGeneratorType:
        return Stream(step, event, result)
    return forward(step, step.apply(event, result))


def forward(step: StepRuntime, event: Event) -> Outcome:
    """Route `event`, the step's result applied: to the outlets the step selects."""
    try:
        outlets, complete = step.route(event)
    except Exception as exc:  # a bad selection is the step's error, for its error handler
        return failure(step, event, exc)
    if outlets:  # (the common case, spelled out: this runs once per step and event)
        return Forward(event, outlets, complete, complete)
    return _forward(step, event, outlets, complete)


def pass_on(step: StepRuntime, event: Event) -> Forward:
    """Forward to every outlet, no selection: end markers, merged and batched events."""
    return _forward(step, event, step.outlets, step.responder)


def _forward(step: StepRuntime, event: Event, outlets: tuple[str, ...], complete: bool) -> Forward:
    terminal = not outlets
    answer = complete or (terminal and step.answers_when_last)
    return Forward(event, outlets, answer, answer or (terminal and step.outputs_when_last))


def failure(step: StepRuntime, event: Event, exc: Exception) -> ToErrorHandler | DeadLetter:
    """Where `event` goes when `step` raised `exc`: the error handler, or the dead letters."""
    if step.error_target is not None:
        return ToErrorHandler(step.fail(event, exc), step.error_target)
    dead = step.fail(event.copy(), exc)
    return DeadLetter(dead, step.name, exc, status_of(exc), step.reaches_responder)


def chunk(step: StepRuntime, event: Event, value: Any, seq: int) -> Outcome:
    """The `seq`th value a streaming step yielded, as an event of its own."""
    piece = step.apply(event.copy(), value)
    piece.chunk, piece.stream_from = seq, step.name
    return forward(step, piece)


async def stream_outcomes(stream: Stream) -> AsyncIterator[Outcome]:
    """The outcome of each chunk a streaming step yields, then of its end marker; an error
    while streaming is the step's failure (and ends the stream)."""
    step, event, chunks = stream.step, stream.event, stream.chunks
    seq = 0
    try:
        if inspect.isasyncgen(chunks):
            async for value in chunks:
                yield chunk(step, event, value, seq)
                seq += 1
        else:
            for value in chunks:
                yield chunk(step, event, value, seq)
                seq += 1
                await asyncio.sleep(0)  # a plain generator: let other events run between chunks
    except Exception as exc:
        yield failure(step, event, exc)
        return
    yield end_of_stream(step, event, seq)


def end_of_stream(step: StepRuntime, event: Event, count: int) -> Forward:
    """The marker after a stream's `count` chunks: downstream steps and the caller see the end."""
    end = event.copy(body=None)
    end.end_of_stream, end.chunk, end.stream_from, end.source = True, count, step.name, step.name
    return pass_on(step, end)


def merge(step: StepRuntime, event: Event, state: MutableMapping[str, Any]) -> Outcome:
    """A Merge or Collector step: hold the event in `state` until its entry is complete."""
    if event.end_of_stream and step.stateful != "collector":
        return pass_on(step, event)
    step.enter(event)
    merged = step.obj.add(state, event)
    if merged is None:
        return Drop(event, acknowledge=False)
    out = event.copy(body=merged)
    out.chunk, out.end_of_stream, out.stream_from = None, False, None
    return pass_on(step, out)


def describe_failure(dead: DeadLetter) -> str:
    """`<step>: <Class>: <message>`, how a dead letter is logged and counted."""
    return f"{dead.step}: {describe(dead.error)}"
