"""Run one step on one event and say which records that produces: the Kafka engine's routing.

What a step *means* (paths, outlets, loop limits, the streaming rule, errors) comes from
`core.step`; this module only turns the outcome into records: a successor's topic, the output
topic, the caller's reply topic, the error handler's topic or the dead-letter topic.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ...core.builtins import Batch
from ...core.compile import Plan
from ...core.event import Event
from ...core.results import DROP, Many
from ...core.step import StepRuntime
from ...errors import describe, status_of
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
    ) -> None:
        self.plan = plan
        self.topology = topology
        self._send = send
        self._state = state
        self._sync_engine = plan.engine == "sync"
        # without a responder the caller is answered {"id"} once the first step took the event
        self._ack_at_start = plan.responder is None and not self._sync_engine
        # in a graph with no branches, an event a step drops will never be answered otherwise
        self._linear = len(plan.starts) == 1 and all(
            len(s.outlets) <= 1 for s in plan.steps.values()
        )
        self.failures: dict[str, int] = {}  # step errors per step, for the worker's metrics

    async def run(self, name: str, event: Event) -> list[Awaitable[Any]]:
        """Run step `name` on `event`; returns the delivery futures of what it sent."""
        step = self.plan.steps[name]
        sent: list[Awaitable[Any]] = []
        try:
            if step.stateful in ("merge", "collector"):
                merged = self._merge(step, event)
                if merged is None:
                    return sent
                event, outlets, complete = merged, step.outlets, step.responder
            elif event.end_of_stream or step.stateful == "batch":
                outlets, complete = step.outlets, step.responder
            else:
                result = step.invoke(event)
                if inspect.isasyncgen(result) or inspect.isgenerator(result):
                    await self._stream(step, event, result, sent)
                    return sent
                if inspect.isawaitable(result):
                    result = await result
                if result is DROP:
                    if self._linear or self._ack_at_start:
                        await self.acknowledge(event, sent)
                    return sent
                if type(result) is Many:
                    for item in result:
                        piece = event.copy(body=item)
                        await self._route(step, piece, *step.route(piece), sent)
                    return sent
                event = step.apply(event, result)
                outlets, complete = step.route(event)
        except Exception as exc:
            await self._failed(step, event, exc, sent)
            return sent
        await self._route(step, event, outlets, complete, sent)
        return sent

    async def run_batch(self, name: str, events: list[Event]) -> list[Awaitable[Any]]:
        """A Batch step: the events become one event whose body is the list of bodies."""
        step = self.plan.steps[name]
        batch = Batch.make_batch(events)
        sent: list[Awaitable[Any]] = []
        await self._route(step, batch, step.outlets, step.responder, sent)
        return sent

    async def dead_letter(self, event: Event, reason: str, origin: str) -> Awaitable[Any]:
        """Send an unreadable or failed record to the dead-letter topic with the reason."""
        event.error, event.origin_state = reason, origin
        origin_topic = self.topology.step_topics.get(origin)
        return await self._send(Emission(self.topology.dlq, event, None, origin_topic))

    # -- routing --------------------------------------------------------------------------------
    async def _route(
        self,
        step: StepRuntime,
        event: Event,
        outlets: tuple[str, ...],
        complete: bool,
        sent: list[Awaitable[Any]],
    ) -> None:
        if self._ack_at_start and isinstance(event.reply, KafkaReply):
            await self.acknowledge(event, sent)
        if complete or (not outlets and (self._sync_engine or self.plan.responder is None)):
            await self._answer(event, sent)
        queue_topic = self.topology.queue_topics.get(step.name)
        if queue_topic is not None:
            event.source = step.name
            sent.append(await self._send(Emission(queue_topic, event)))
            return
        topics = self.topology.step_topics
        for i, outlet in enumerate(outlets):
            out = event if i == 0 else event.branch()
            out.source = step.name
            sent.append(await self._send(Emission(topics[outlet], out)))

    async def _answer(self, event: Event, sent: list[Awaitable[Any]]) -> None:
        """The responder's result: to the output topic, and to each waiting caller."""
        sent.append(await self._send(Emission(self.topology.output, event, 200)))
        for member in event.members or (event,):
            reply = member.reply
            if isinstance(reply, KafkaReply):
                answer = event if member is event else _member_answer(event, member)
                sent.append(await self._send(Emission(reply.topic, _as_reply(answer, reply), 200)))

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

    async def _failed(
        self, step: StepRuntime, event: Event, exc: Exception, sent: list[Awaitable[Any]]
    ) -> None:
        self.failures[step.name] = self.failures.get(step.name, 0) + 1
        target = step.error_target
        if target is not None and target in self.topology.step_topics:
            step.fail(event, exc)
            sent.append(await self._send(Emission(self.topology.step_topics[target], event)))
            return
        logger.info("step %s failed on event %s: %s", step.name, event.id, describe(exc))
        status = status_of(exc)
        dead = event.copy()
        step.fail(dead, exc)
        origin_topic = self.topology.step_topics.get(step.name)
        sent.append(await self._send(Emission(self.topology.dlq, dead, status, origin_topic)))
        if not step.reaches_responder:
            return  # a side branch: the answer comes from the responder's path
        for member in event.members or (event,):
            reply = member.reply
            if isinstance(reply, KafkaReply):
                error = member.copy(body={"error": describe(exc)})
                sent.append(
                    await self._send(Emission(reply.topic, _as_reply(error, reply), status))
                )

    async def _stream(
        self, step: StepRuntime, event: Event, chunks: Any, sent: list[Awaitable[Any]]
    ) -> None:
        """One record per yielded value (downstream and to the caller), then an end marker."""
        seq = 0
        try:
            if inspect.isasyncgen(chunks):
                async for value in chunks:
                    await self._chunk(step, event, value, seq, sent)
                    seq += 1
            else:
                for value in chunks:
                    await self._chunk(step, event, value, seq, sent)
                    seq += 1
        except Exception as exc:
            await self._failed(step, event, exc, sent)
            return
        end = event.copy(body=None)
        end.end_of_stream, end.chunk, end.stream_from = True, seq, step.name
        await self._route(step, end, step.outlets, step.responder, sent)

    async def _chunk(
        self, step: StepRuntime, event: Event, value: Any, seq: int, sent: list[Awaitable[Any]]
    ) -> None:
        chunk = step.apply(event.copy(), value)
        chunk.chunk, chunk.stream_from = seq, step.name
        outlets, complete = step.route(chunk)
        await self._route(step, chunk, outlets, complete, sent)

    def _merge(self, step: StepRuntime, event: Event) -> Event | None:
        if event.end_of_stream and step.stateful != "collector":
            return event
        step.enter(event)
        merged = step.obj.add(self._state(step.name), event)
        if merged is None:
            return None
        out = event.copy(body=merged)
        out.chunk, out.end_of_stream, out.stream_from = None, False, None
        return out


def _as_reply(event: Event, reply: KafkaReply) -> Event:
    """A record for the caller: the answer, marked with the caller's correlation id."""
    out = event.copy()
    out.reply = KafkaReply(reply.topic, reply.correlation_id)
    return out


def _member_answer(batch: Event, member: Event) -> Event:
    body = batch.body
    members = batch.members or []
    per_member = isinstance(body, list) and len(body) == len(members)
    index = members.index(member)
    return member.copy(body=body[index] if per_member else body)
