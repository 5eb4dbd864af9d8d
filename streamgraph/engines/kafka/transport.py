"""A leaner Faust worker core: the same agents and topics, less work per message.

Faust hands every fetched record to the agents' queues inside `Service.wait_first`, which
creates four tasks and waits on them: several event-loop turns per record, and between two turns
aiokafka's sender ships a produce request with one record in it. Here a record is handed over
directly whenever that cannot block (flow running, the agents' queues not full); otherwise the
original guarded path is taken, so a rebalance still interrupts a blocked hand-over.

Faust's `Monitor` is taken out of the app's sensors (its per-record statistics are never read
here, and each record paid four calls into it), and topics with `LeanSchema` skip
Faust's codec registry. The table manager waits for the app's topics to be created instead of
Faust's fixed one-second pause, which every app start (a worker, each Kafka test) paid.

These classes override internals of faust-streaming 0.15: every one is listed, with a
fingerprint of its source, in upstream.py (tests/kafka/test_upstream_fingerprints.py fails
naming any that changed). They are an optimisation: with `lean_transport=false` (settings.py)
build_app uses Faust's stock classes instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import faust
from faust.tables import TableManager
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from ...connection.kafka_failures import access_error
from ...connection.kafka_security import KafkaSecurity
from .consumer_thread import LeanConsumerThread
from .refusals import fail_worker, preflight

__all__ = ["LeanApp", "LeanSchema", "LeanTableManager"]


class LeanSchema(faust.Schema):
    """Raw key and value, no codec registry: the event carries the record as it came.

    Topics with this schema also take the consumer's direct hand-over (`LeanConsumer`).
    """

    def compile(self, app: Any, **kwargs: Any) -> Any:
        event_class = app.conf.Event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return event_class(app, message.key, message.value, message.headers, message)

        return decode


class LeanConsumer(faust_aiokafka.Consumer):
    """aiokafka consumer whose drain loop hands records over without a task per record, and
    whose consumer thread takes the main loop's calls with fewer loop turns."""

    _pressure: dict[TP, tuple[Callable[[], None], Callable[[], None]]]
    _event_class: Any = None
    lean_conductor: Any = None
    lean_flow_active: Callable[[], bool]
    lean_producer_buffer: Any = None

    def _new_consumer_thread(self) -> LeanConsumerThread:
        return LeanConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # -- exactly_once (transactions.py): the app's `eos` is set --------------------------------
    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        eos = getattr(self.app, "eos", None)
        if eos is not None:
            # before Faust seeks to the committed offsets (once its recovery is done): the
            # producers started here fenced the partitions' previous owners, whose open
            # transactions are closed, so the offsets read then are final
            try:
                await eos.on_assigned(assigned)
            except Exception as exc:  # (aiokafka would log it and go on with no producers)
                self.log.exception("exactly_once: starting the transactional producers failed")
                await self.app.crash(exc)
                return
        await super().on_partitions_assigned(assigned, generation_id)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # at_least_once: Faust's forgets the revoked partitions' acked offsets before the app's
        # handler waits for the streams and commits, so that commit left them out and every
        # rebalance (a worker joining or leaving) redid up to a commit interval of their work
        # (tests/kafka/test_rolling_restart.py: 75-168 events redone per rolling restart at
        # 30 requests/s). What is acked by now is committed first; an input still in flight
        # (its outputs not yet acknowledged) is redone by the partition's next owner, as before.
        if getattr(self.app, "eos", None) is None and not self.app.should_stop and revoked:
            try:
                await self.commit(revoked)
            except Exception:  # the rebalance goes on; the next owner redoes the work
                self.log.exception("committing the revoked partitions' acked offsets failed")
        await super().on_partitions_revoked(revoked)

    async def _commit(self, offsets: Any) -> bool:
        if getattr(self.app, "eos", None) is not None:
            # offsets are committed by the transactions, with their outputs; these (acked once
            # their transaction committed) are, so Faust's livelock check is told so
            now = time.monotonic()
            cast(Any, self._thread).tp_last_committed_at.update({tp: now for tp in offsets})
            return False
        return await super()._commit(offsets)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        if getattr(self.app, "eos", None) is not None:
            # where reading resumes: the offsets the transactions committed for the group
            positions = {f"{tp.topic}[{tp.partition}]": o for tp, o in self._read_offset.items()}
            self.log.info("exactly_once: reading from the group's committed offsets %s", positions)

    def _pressure_callbacks(self, key: Any) -> tuple[Callable[[], None], Callable[[], None]]:
        # the conductor's callbacks: a full queue stops fetching `tp` until it drains
        on_full = self.app.sensors.on_topic_buffer_full
        tp = TP(key.topic, key.partition)  # Faust's own tuple type, not aiokafka's

        def high() -> None:
            on_full(tp)
            self.on_buffer_full(tp)

        def drop() -> None:
            self.on_buffer_drop(tp)

        callbacks = self._pressure[key] = (high, drop)
        return callbacks

    def _hand_over(self, tp: TP, message: Any) -> bool:
        """Put `message` on its agent's queue now, if that cannot block; False if not done."""
        app = self.app
        if self._event_class is None:
            # the app's parts, looked up once: each is a cached_property call per record
            self._event_class = app.conf.Event
            self.lean_conductor = app.topics
            self.lean_flow_active = app.flow_control.is_active
            self.lean_producer_buffer = app.producer.buffer
        conductor = self.lean_conductor
        buffer = self.lean_producer_buffer
        channels = conductor._tp_index.get(tp)
        if (
            not channels
            or len(channels) != 1
            or self.suspend_flow.is_set()
            or not self.lean_flow_active()
            or conductor._tp_to_callback_lock.locked()
            or buffer.pending.qsize() > buffer.max_messages
        ):
            return False
        for channel in channels:
            if type(channel.schema) is not LeanSchema or channel.queue.full():
                return False
            # `message.incref()`, without its lock: no other thread has seen this message yet
            message.refcount += 1
            event = self._event_class(app, message.key, message.value, message.headers, message)
            high, drop = self._pressure.get(tp) or self._pressure_callbacks(tp)
            channel.queue.put_nowait_enhanced(event, on_pressure_high=high, on_pressure_drop=drop)
        return True

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        # Faust's Consumer.getmany without its per-record highwater lookup, which only feeds
        # the monitor's statistics
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        records_it = self.scheduler.iterate(records)
        to_message = self._to_message
        buffered = self._buffered_partitions
        app = self.app
        if self.flow_active:
            for tp, record in records_it:
                if not self.flow_active or app.consumer_generation_id != generation_id:
                    break
                if active_partitions is None or tp in active_partitions or tp in buffered:
                    yield tp, to_message(tp, record)
        else:
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        # Faust's Consumer._drain_messages, with the direct hand-over added (see module doc)
        self._pressure = {}
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = cast(Any, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        hand_over = self._hand_over
        yield_every = 1000
        num_since_yield = 0
        sleep = asyncio.sleep
        flag = CONSUMER_FETCHING
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag)
                ait = getmany(timeout=1.0)
                # a bare yield, as Faust means here: its `self.sleep(0)` is a wait_for on the
                # stop event, a task created and cancelled (three loop turns) on every fetch
                await sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if not hand_over(tp, message):
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                    unset_flag(flag)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            unset_flag(flag)


class LeanTableManager(TableManager):
    """Faust's table manager, waiting for the app's topics instead of sleeping a second.

    Registering the tables lets the conductor subscribe the consumer. Faust sleeps 1 s first,
    for tables declared while the app starts (a streamgraph app declares none) and, in effect,
    for the agents to create their topics: a topic missing when the consumer subscribes gets no
    partitions until the next metadata refresh, minutes later. So the app's `declare_topics`
    (LeanApp; KafkaGraph sets it) is awaited here instead.
    """

    async def on_start(self) -> None:
        declare = cast(LeanApp, self.app).declare_topics
        if declare is not None:
            declaring = asyncio.ensure_future(declare())
            if await self.wait_for_stopped(declaring):
                return
            if declaring.exception() is not None:  # the agents await the same declaration
                self.log.error("declaring the topics failed: %r", declaring.exception())
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class LeanTransport(faust_aiokafka.Transport):
    Consumer = LeanConsumer

    async def _create_topic(
        self, owner: Any, client: Any, topic: str, partitions: int, replication: int, **kw: Any
    ) -> None:
        """Faust's, ending the worker with one line when the principal may not create `topic`
        (Faust's own error ended it with a traceback)."""
        try:
            await super()._create_topic(owner, client, topic, partitions, replication, **kw)
        except Exception as exc:
            app = cast(LeanApp, self.app)
            refused = access_error(exc, app.brokers_text, app.security, f"topic {topic}")
            if refused is None:
                raise
            fail_worker(app, refused)
            raise refused from None


class LeanApp(faust.App):
    """A Faust app whose `kafka://` transport uses `LeanConsumer` and whose monitor is lean."""

    #: creates the topics the agents read and write; the consumer subscribes once it returned
    declare_topics: Callable[[], Awaitable[None]] | None = None
    #: the brokers and security the app's clients use, for the one line of a refusal
    brokers_text: str = ""
    security: KafkaSecurity = KafkaSecurity()

    async def on_first_start(self) -> None:
        await super().on_first_start()
        # a refused login or TLS handshake ends a worker here, in one line (refusals.py)
        await preflight(self, self.brokers_text, self.security)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("TableManager", LeanTableManager)
        # the stream iterator takes a queued event without awaiting the queue (Faust's opt-in)
        kwargs.setdefault("cython_optimizations", True)
        super().__init__(*args, **kwargs)

    def on_init_dependencies(self) -> Any:
        services = super().on_init_dependencies()
        # per-event sensor calls (message in/out, stream event in/out) go to no sensor at all:
        # the monitor's per-record statistics are never read. Its direct calls stay: commits
        # (`on_tp_commit`); the per-record `track_tp_end_offset` is in Faust's getmany, which
        # LeanConsumer.getmany leaves out
        if self.monitor in set(self.sensors):
            self.sensors.remove(self.monitor)
        return services

    def on_rebalance_start(self) -> None:
        super().on_rebalance_start()
        # with no sensor registered the state is empty, and Faust warns "Missing sensor state"
        # at every rebalance; a state of our own keeps the log quiet
        if not self._rebalancing_sensor_state:
            self._rebalancing_sensor_state = {"time_start": time.monotonic()}

    def _new_transport(self) -> Any:
        url = self.conf.broker_consumer[0]
        if getattr(url, "scheme", "") != "kafka":
            return super()._new_transport()
        return LeanTransport(self.conf.broker_consumer, self)
