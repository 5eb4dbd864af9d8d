"""Run one step on one event and say which records that produces: the Kafka engine's routing.

What a step *means* (paths, outlets, loop limits, the streaming rule, errors) comes from
`core.step_runtime` and `core.outcome`; this module only turns each outcome into records: a
successor's topic, the output topic, the caller's reply topic, the error handler's topic or the
dead-letter topic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from ...core.batching import member_answers
from ...core.compile import Plan
from ...core.event import Event
from ...core.outcome import (
    MERGING,
    Awaiting,
    DeadLetter,
    Drop,
    Expired,
    FanOut,
    Forward,
    Outcome,
    Stream,
    ToErrorHandler,
    describe_failure,
    forward,
    pass_on,
    run_step_now,
    stream_outcomes,
)
from ...core.request_deadline import ExpiredLog
from ...core.step_runtime import StepRuntime
from ...errors import describe
from ...wire.codec import KafkaReply
from .topology import Topology

logger = logging.getLogger("streamgraph.kafka")


@dataclass(slots=True)
class Emission:
    """One record to produce: the event, to a topic, with an HTTP-like status for replies."""

    topic: str
    event: Event
    status: int | None = None
    # a dead letter remembers the topic it came from, so `dlq replay` can send it back
    origin_topic: str | None = None


Send = Callable[[Emission], Awaitable[Awaitable[Any]]]


class StepExecutor:
    """Runs the steps of a plan on decoded events and sends what they produce."""

    def __init__(
        self,
        plan: Plan,
        topology: Topology,
        send: Send,
        state: Callable[[str], MutableMapping[str, Any]],
        fused: dict[str, str] | None = None,
        timed: Callable[[str, float, Event], None] | None = None,
    ) -> None:
        self.plan = plan
        self.topology = topology
        self._send = send
        self._state = state
        # without a responder the caller is answered {"id"} once the first step took the event
        # (the local engine answers it when the graph is done; a worker never knows when that is)
        self._ack_at_start = plan.acks_at_start
        # step -> the successor that runs inline, in the same agent (`fusion.py`)
        self.fused = fused or {}
        self._timed = timed  # the worker's per-step timer, for steps run inline
        self.failures: dict[str, int] = {}  # step errors per step, for the worker's metrics
        # records taken past their deadline: acknowledged, not run, counted per step
        self.expired = ExpiredLog(logger)

    async def run(self, name: str, event: Event) -> list[Awaitable[Any]]:
        """Run step `name` on `event`; returns the delivery futures of what it sent."""
        step = self.plan.steps[name]
        sent: list[Awaitable[Any]] = []
        if step.stateful == "batch":  # the batch agent buffers; a batch's events pass on
            out: Outcome = pass_on(step, event)
        else:
            state = self._state(name) if step.stateful in MERGING else None
            # `core.outcome.run_step`, spelled out: one coroutine less per step run
            now = run_step_now(step, event, state, True)
            out = await now.outcome() if isinstance(now, Awaiting) else now
        if type(out) is Forward:  # (the common outcome: straight to it)
            await self._forward(step, out, sent)
        else:
            await self._carry(step, out, sent)
        return sent

    async def carry(self, name: str, out: Outcome) -> list[Awaitable[Any]]:
        """Carry out what step `name` led to outside `run` (a Batch step's flush or failure,
        decided by `core.batching`); returns the delivery futures of what it sent."""
        sent: list[Awaitable[Any]] = []
        await self._carry(self.plan.steps[name], out, sent)
        return sent

    async def dead_letter(self, event: Event, reason: str, origin: str) -> Awaitable[Any]:
        """Send an unreadable or failed record to the dead-letter topic with the reason."""
        event.error, event.origin_state = reason, origin
        origin_topic = self.topology.step_topics.get(origin)
        return await self._send(Emission(self.topology.dlq, event, None, origin_topic))

    # -- carrying outcomes out ------------------------------------------------------------------
    async def _carry(self, step: StepRuntime, out: Outcome, sent: list[Awaitable[Any]]) -> None:
        """Do what `core.outcome` decided, as records."""
        if type(out) is Forward:
            await self._forward(step, out, sent)
        elif type(out) is Drop:
            if out.acknowledge:
                await self.acknowledge(out.event, sent)
        elif type(out) is FanOut:
            for item in out.events:
                await self._carry(step, forward(step, item), sent)
        elif type(out) is Stream:
            async for piece in stream_outcomes(out):
                await self._carry(step, piece, sent)
        elif type(out) is ToErrorHandler:
            self.failures[step.name] = self.failures.get(step.name, 0) + 1
            topic = self.topology.step_topics[out.target]
            sent.append(await self._send(Emission(topic, out.event)))
        elif type(out) is DeadLetter:
            await self._dead_letter(step, out, sent)
        elif type(out) is Expired:  # (a fused step: the agent checks its own records)
            self.expired.note(out.step, out.event)

    async def _forward(self, step: StepRuntime, out: Forward, sent: list[Awaitable[Any]]) -> None:
        event, outlets = out.event, out.outlets
        if self._ack_at_start and isinstance(event.reply, KafkaReply):
            await self.acknowledge(event, sent)
        if out.output:
            sent.append(await self._send(Emission(self.topology.output, event, 200)))
        if out.answer:
            await self._answer(event, sent)
        queue_topic = self.topology.queue_topics.get(step.name)
        if queue_topic is not None:
            event.source = step.name
            if not step.reaches_responder:
                # a side branch: the caller's answer comes from the responder's path here, and
                # the function behind the queue (whose own plan has no responder) would
                # otherwise acknowledge the caller at once, racing the real answer
                event = event.copy()
                event.reply = None
            sent.append(await self._send(Emission(queue_topic, event)))
            return
        topics = self.topology.step_topics
        for i, outlet in enumerate(outlets):
            branch = event if i == 0 else event.branch()
            branch.source = step.name
            if self.fused.get(step.name) == outlet:
                await self._run_inline(outlet, branch, sent)
            else:
                sent.append(await self._send(Emission(topics[outlet], branch)))

    async def _run_inline(self, name: str, event: Event, sent: list[Awaitable[Any]]) -> None:
        """A fused successor: run now, in this agent, instead of a record to its topic."""
        started = perf_counter()
        sent.extend(await self.run(name, event))
        if self._timed is not None:  # (the step before it is timed with its fused successors)
            self._timed(name, perf_counter() - started, event)

    async def _answer(self, event: Event, sent: list[Awaitable[Any]]) -> None:
        """The answer to each caller waiting on it (each member of a batch its own)."""
        if not event.members:
            if isinstance(event.reply, KafkaReply):
                answer = _as_reply(event, event.reply)
                sent.append(await self._send(Emission(event.reply.topic, answer, 200)))
            return
        for member, body in member_answers(event):
            reply = member.reply
            if isinstance(reply, KafkaReply):
                answer = _as_reply(member.copy(body=body), reply)
                sent.append(await self._send(Emission(reply.topic, answer, 200)))

    async def _dead_letter(
        self, step: StepRuntime, dead: DeadLetter, sent: list[Awaitable[Any]]
    ) -> None:
        """To the dead-letter topic with the reason; the callers get the error."""
        self.failures[step.name] = self.failures.get(step.name, 0) + 1
        logger.info("step failed on event %s: %s", dead.event.id, describe_failure(dead))
        origin_topic = self.topology.step_topics.get(step.name)
        sent.append(
            await self._send(Emission(self.topology.dlq, dead.event, dead.status, origin_topic))
        )
        if not dead.answer_caller:
            return  # a side branch: the answer comes from the responder's path
        for member in dead.event.members or (dead.event,):
            reply = member.reply
            if isinstance(reply, KafkaReply):
                error = member.copy(body={"error": describe(dead.error)})
                sent.append(
                    await self._send(Emission(reply.topic, _as_reply(error, reply), dead.status))
                )

    @property
    def acks_at_start(self) -> bool:
        return self._ack_at_start

    async def acknowledge(self, event: Event, sent: list[Awaitable[Any]]) -> None:
        """Answer the caller `{"id": <event id>}` and take the reply off the event."""
        for member in event.members or (event,):
            reply = member.reply
            if isinstance(reply, KafkaReply):
                ack = member.copy(body={"id": member.id})
                sent.append(await self._send(Emission(reply.topic, _as_reply(ack, reply), 200)))
                member.reply = None
        event.reply = None


def _as_reply(event: Event, reply: KafkaReply) -> Event:
    """A record for the caller: the answer, marked with the caller's correlation id."""
    out = event.copy()
    out.reply = KafkaReply(reply.topic, reply.correlation_id)
    return out
