"""The in-process engine (the mock server): runs a graph with no broker.

Events move between steps by direct calls driven from an explicit work stack (depth-first, as
storey does, and without recursion so long cycles can't overflow the stack). A graph made only
of plain functions runs on the caller's thread with no event loop at all (the fast path); a graph
with coroutines, streams or batch timers runs on a private loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..core.batching import Batcher, Cancellable, Flush, member_answers
from ..core.compile import Plan, compile_graph
from ..core.content import request_event
from ..core.context import GraphContext
from ..core.event import Event
from ..core.outcome import (
    DeadLetter,
    Expired,
    FanOut,
    Forward,
    Outcome,
    Stream,
    ToErrorHandler,
    describe_failure,
    forward,
    run_plain,
    run_step,
    run_step_now,
    stream_outcomes,
)
from ..core.request_deadline import ExpiredLog, request_timeout, set_deadline
from ..core.step_runtime import StepRuntime
from ..errors import GatewayTimeoutError, HTTPError, describe
from .loop_thread import LoopThread
from .reply import STREAM, Reply, Response, finish, iterate_blocking, relay

logger = logging.getLogger("streamgraph.local")

Work = list[tuple[StepRuntime, Event]]


class LocalServer:
    """Runs one function's graph in process: `test()`, `atest()`, `wait_for_completion()`."""

    def __init__(
        self,
        graph: Any,
        namespace: dict[str, Any] | None = None,
        current_function: str | None = "*",
        parameters: dict[str, Any] | None = None,
        streaming: bool = False,
        **kw: Any,
    ) -> None:
        self.context = GraphContext(
            server=self,
            parameters=parameters,
            namespace=namespace or {},
            current_function=current_function or "",
        )
        self.context.streaming = streaming
        self.plan: Plan = compile_graph(graph, namespace or {}, self.context, current_function)
        self.graph = self.plan.graph
        self._steps = self.plan.steps
        self._starts = [self._steps[n] for n in self.plan.starts]
        self._sync_engine = self.plan.engine == "sync"
        self._needs_loop = self.plan.needs_loop
        self._state: dict[str, dict[str, Any]] = {name: {} for name in self._steps}
        # each Batch step's buffers and timers (`core.batching`), on the private loop's clock
        self._batchers: dict[str, Batcher[None]] = {
            name: Batcher(step, _call_later, self._emit_batch)
            for name, step in self._steps.items()
            if step.stateful == "batch"
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_thread: LoopThread | None = None
        self.queue_records: dict[str, list[Any]] = {}
        self.errors: list[str] = []
        self.expired = ExpiredLog(logger)  # events dropped past their deadline, per step

    # -- public API (MLRun's GraphServer) ------------------------------------------------------
    def test(
        self,
        path: str = "/",
        body: Any = None,
        method: str = "",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        silent: bool = False,
        get_body: bool = True,
        event_id: str | None = None,
    ) -> Any:
        """Send one request through the graph and return its answer (MLRun's `server.test`)."""
        try:
            if headers:
                event = self._make_event(path, body, method, headers, content_type, event_id)
            else:  # (no deadline to read: `_make_event` without a call)
                event = request_event(body, path, method, None, content_type, event_id)
        except HTTPError as exc:
            return finish(Response.from_error(exc), silent, get_body)
        if not self._needs_loop:
            reply = self._run_sync(event)
            if reply.done and reply.error is None and get_body:
                return reply.value  # (what `finish` makes of a 200 answer, without a Response)
            return finish(self._answer(event, reply), silent, get_body)
        loop = self._loop()
        response = loop.run(self._serve_async(event))
        if isinstance(response.body, AsyncIterator):
            response.body = iterate_blocking(response.body, loop.run)
        return finish(response, silent, get_body)

    async def atest(
        self,
        path: str = "/",
        body: Any = None,
        method: str = "",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        silent: bool = False,
        get_body: bool = True,
        event_id: str | None = None,
    ) -> Any:
        """`test()` for async callers; a streaming answer is an async iterator of chunks."""
        try:
            event = self._make_event(path, body, method, headers, content_type, event_id)
        except HTTPError as exc:
            return finish(Response.from_error(exc), silent, get_body)
        return finish(await self.serve_event(event), silent, get_body)

    async def serve_event(self, event: Event) -> Response:
        """One ready-made event through the graph (what an HTTP front end calls); step errors
        are error responses, a streaming answer's body is an async iterator of chunks."""
        if not self.plan.needs_loop:
            return self._serve_sync(event)
        loop = self._loop()
        response = await loop.arun(self._serve_async(event))
        if isinstance(response.body, AsyncIterator):
            response.body = relay(response.body, loop)
        return response

    def wait_for_completion(self) -> None:
        """Flush partial batches and wait for background branches to finish."""
        if self._loop_thread is not None:
            self._loop_thread.run(self._drain())
            self._loop_thread.stop()
            self._loop_thread = None
        elif self._has_buffered_batches():
            self._loop().run(self._drain())
            self.wait_for_completion()

    def close(self) -> None:
        self.wait_for_completion()
        self.plan.close()

    # -- events in and answers out -------------------------------------------------------------
    def _make_event(
        self,
        path: str,
        body: Any,
        method: str,
        headers: dict[str, str] | None,
        content_type: str | None,
        event_id: str | None,
    ) -> Event:
        event = request_event(body, path, method, headers, content_type, event_id)
        if headers:  # the mock server has no timeout of its own: only the caller's counts
            timeout = request_timeout(headers, float("inf"))
            if timeout != float("inf"):
                set_deadline(event, timeout)
        return event

    def _answer(self, event: Event, reply: Reply) -> Response:
        if reply.error is not None:
            return Response.from_error(reply.error)
        if reply.done:
            return Response(200, reply.value)
        return Response(200, {"id": event.id})

    # -- the synchronous fast path -------------------------------------------------------------
    def _serve_sync(self, event: Event) -> Response:
        return self._answer(event, self._run_sync(event))

    def _run_sync(self, event: Event) -> Reply:
        reply = event.reply = Reply()
        starts = self._starts
        if len(starts) == 1:
            work: Work = [(starts[0], event)]
        else:
            work = [(step, event if i == 0 else event.copy()) for i, step in enumerate(starts)]
            work.reverse()
        steps, state = self._steps, self._state
        while work:
            step, ev = work.pop()
            while True:
                # (a Batch needs timers, so a graph with one never takes this path)
                out: Outcome | None
                if type(step) is _Fanout:
                    step = step.step
                    out = forward(step, ev)
                elif step.plain:
                    out = run_plain(step, ev)
                else:
                    out = run_step_now(step, ev, state[step.name])
                if out is None:  # a plain step's plain result: the body now, for every outlet
                    outlets, answer = step.outlets, step.plain_answer
                elif type(out) is Forward:
                    outlets, answer, ev = out.outlets, out.answer, out.event
                else:
                    self._carry(step, out, work)
                    break
                if step.terminal_queue is None:  # what `_carry` does, for the two common cases
                    if not outlets:  # the end of a branch
                        if answer:
                            _respond(ev)
                        break
                    if len(outlets) == 1 and not answer:  # pushed and popped at once
                        ev.source = step.name
                        step = steps[outlets[0]]
                        continue
                if out is None:
                    out = Forward(ev, outlets, answer, step.plain_output)
                self._carry(step, out, work)
                break
        return reply

    # -- the event-loop path -------------------------------------------------------------------
    def _loop(self) -> LoopThread:
        if self._loop_thread is None:
            self._loop_thread = LoopThread()
        return self._loop_thread

    async def _serve_async(self, event: Event) -> Response:
        loop = asyncio.get_running_loop()
        reply = event.reply = Reply(loop)
        work: Work = [
            (step, event if i == 0 else event.copy()) for i, step in enumerate(self._starts)
        ]
        work.reverse()
        task = loop.create_task(self._drive(work))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        assert reply.future is not None
        await asyncio.wait((reply.future, task), return_when=asyncio.FIRST_COMPLETED)
        if not reply.done and reply.held and not self.plan.acks_at_start:
            await reply.future
        if reply.streaming or (reply.future.done() and reply.future.result() is STREAM):
            return Response(200, reply.chunks())
        return self._answer(event, reply)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.errors.append(describe(exc))  # type: ignore[arg-type]
            logger.error("background branch failed: %s", describe(exc))  # type: ignore[arg-type]

    async def _drive(self, work: Work) -> None:
        while work:
            step, event = work.pop()
            await self._step_async(step, event, work)

    async def _step_async(self, step: StepRuntime, event: Event, work: Work) -> None:
        if type(step) is _Fanout:
            out: Outcome | None = forward(step.step, event)
            step = step.step
        elif step.stateful == "batch":
            out = self._batch(step, event)
        else:
            out = await run_step(step, event, self._state[step.name])
        if type(out) is Stream:
            await self._stream(out)
        elif out is not None:
            self._carry(step, out, work)

    async def _stream(self, stream: Stream) -> None:
        """Each chunk runs through the rest of the graph before the next one (downstream first)."""
        async for out in stream_outcomes(stream):
            work: Work = []
            self._carry(stream.step, out, work)
            await self._drive(work)

    async def _drain(self) -> None:
        for batcher in self._batchers.values():
            for flushed in batcher.flush_all():
                self._emit_batch(flushed)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- carrying outcomes out (shared by both paths) ---------------------------------------
    def _carry(self, step: StepRuntime, out: Outcome, work: Work) -> None:
        """Do what `core.outcome` decided: the next steps go on the work stack."""
        if type(out) is Forward:
            event, outlets = out.event, out.outlets
            if out.answer:
                _respond(event)
            if step.terminal_queue is not None:
                self.queue_records.setdefault(step.terminal_queue, []).append(event.body)
            if outlets:
                event.source = step.name
                steps = self._steps
                for i in range(len(outlets) - 1, -1, -1):
                    work.append((steps[outlets[i]], event if i == 0 else event.branch()))
        elif type(out) is FanOut:
            for item in reversed(out.events):
                work.append((_Fanout(step), item))
        elif type(out) is ToErrorHandler:
            work.append((self._steps[out.target], out.event))
        elif type(out) is DeadLetter:
            self.errors.append(describe_failure(out))
            logger.debug("step %s failed on event %s: %s", step.name, out.event.id, out.error)
            if out.answer_caller:
                for member in out.event.members or (out.event,):
                    if isinstance(member.reply, Reply):
                        member.reply.set_error(out.error)
        elif type(out) is Expired:
            # nobody waits for it any more; a caller still here (a test) gets the 504
            self.expired.note(out.step, out.event)
            for member in out.event.members or (out.event,):
                if isinstance(member.reply, Reply):
                    member.reply.set_error(
                        GatewayTimeoutError(f"event {member.id} expired before step {out.step}")
                    )
        elif type(out) is Stream:
            raise TypeError(f"step {step.name} streams, which needs the event-loop path")
        # Drop: nothing to do; a request nothing answered gets {"id"} once its work is done

    def _batch(self, step: StepRuntime, event: Event) -> Outcome | None:
        """A Batch holds its events until it is full or its timer fires (None until then)."""
        out = self._batchers[step.name].add(event, None)
        if out is None:
            if isinstance(event.reply, Reply):
                event.reply.held = True
            return None
        return out.outcome if isinstance(out, Flush) else out

    def _emit_batch(self, flushed: Flush[None]) -> None:
        """A batch its timer (or the drain) flushed: the steps after it run as a task."""
        work: Work = []
        self._carry(flushed.step, flushed.outcome, work)
        task = asyncio.get_running_loop().create_task(self._drive(work))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _has_buffered_batches(self) -> bool:
        return any(batcher.buffered for batcher in self._batchers.values())


class _Fanout(StepRuntime):
    """A work item for one element of `step`'s flat-mapped result: routed when reached, so
    each element's branch runs to its end before the next element's (depth-first)."""

    def __init__(self, step: StepRuntime) -> None:
        super().__init__(step.name, None)
        self.step = step


def _call_later(delay: float, callback: Callable[[], object]) -> Cancellable:
    """The Batch steps' timer: the private loop's, where every Batch step runs."""
    return asyncio.get_running_loop().call_later(delay, callback)


def _respond(event: Event) -> None:
    if event.members is not None:
        for member, answer in member_answers(event):
            if isinstance(member.reply, Reply):
                member.reply.set_result(answer)
        return
    reply = event.reply
    if not isinstance(reply, Reply):
        return
    if event.end_of_stream:
        reply.end_stream()
    elif event.chunk is not None:
        reply.push_chunk(event.body)
    else:
        reply.set_result(event.body)
