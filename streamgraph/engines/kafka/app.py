"""Compile a serving function into a Faust app: every step one agent, one topic each.

    app = build_app(function)            # a topology module exposes it as `app`
    # faust -A topologies.NAME worker -l info

Each agent consumes its step's topic (plus the entry topic for starting steps), runs the step
through `StepExecutor` (the same step semantics as in process), produces to the topics of the
outlets it chose, and acks the input only once the broker acknowledged what it produced: an
offset is committed only after the outputs it caused are safe (at-least-once). Delivery is never
awaited record by record: the agent goes on with the next record while earlier sends complete.

With `lean_transport` (the default) the app is a `LeanApp` whose agents take their queued
records in batches (transport.py, batches.py); with `lean_transport=false` it is Faust's stock
`faust.App`, `faust.Stream` and `faust.Schema`, and every agent iterates event by event.

With `processing_guarantee="exactly_once"` an agent hands each batch's records of one input
partition to that partition's lane (transactions.py), which runs them inside a transaction of
the partition's producer that also commits their offsets; the records are acked (for Faust's
bookkeeping) once it committed.

Faust's data folder is `<state folder>/faust/<app id>` (`faust_datadir`), never the current
folder: a worker leaves nothing where it was started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from time import perf_counter
from typing import Any

import faust

from ...core import tracing
from ...core.compile import Plan, compile_graph
from ...core.context import GraphContext
from ...core.event import Event
from ...core.outcome import MERGING
from ...core.request_deadline import expired
from ...errors import StreamgraphError
from ...settings import Settings
from ...wire.codec import RecordError, decode
from ...wire.producer import track_topic
from .acks import Counters, DeliveryAcker
from .batch_driver import BatchDriver
from .batches import LeanStream
from .executor import Emission, StepExecutor
from .expiring_state import ExpiringState
from .expiry import add_state_expiry
from .fusion import fused_successors
from .hop_trace import queue_span
from .metrics import StepStats
from .remote_model import RemoteModels
from .sender import RecordSender
from .state_table import StateTable, StepStates
from .topology import Topology, build_topology
from .transactions import PartitionTransactions, current_sender, refuse_unsupported
from .transport import LeanApp, LeanSchema

logger = logging.getLogger("streamgraph.kafka")

# most records a step agent takes from its queue at once (one burst of sends, one ack entry)
MAX_BATCH = 500
# how much one fetch brings per partition: ~600 small events, more than an agent batch; Faust's
# 1 MiB default held ~40 MB more under a burst for no more throughput (bench/kafka_pipeline.py)
FETCH_BYTES_PER_PARTITION = 64 * 1024


class KafkaGraph:
    """A compiled function on Kafka: the plan, its topics, its executor, the Faust app."""

    def __init__(
        self,
        function: Any,
        settings: Settings,
        current_function: str | None = None,
        namespace: dict[str, Any] | None = None,
        app_id: str | None = None,
        queue_prefix: str = "",
        model_workers: bool = False,
        **app_options: Any,
    ) -> None:
        graph = function.spec.graph
        if graph is None:
            raise StreamgraphError(f"function {function.name} has no graph; call set_topology()")
        if current_function != "*":  # "*" runs every function in one app, as in process
            function.check_functions()
        self.function = function
        self.settings = settings
        tracing.configure(settings.otel_endpoint, settings.otel_service_name)
        name = current_function if current_function not in (None, "", "*") else function.name
        self.context = GraphContext(
            parameters=function.spec.parameters, current_function=name or "", is_mock=False
        )
        # as in process: an LLModel whose `streaming` is None streams when the function does
        self.context.streaming = bool(function.spec.streaming)
        if model_workers:  # dedicated_process shared models answer from model worker processes
            self.context.remote_models = RemoteModels(settings, function.name)
        self.plan: Plan = compile_graph(
            graph, function.namespace(namespace), self.context, current_function
        )
        # a child function's worker has its own entry, output and dead-letter topics
        self.topology: Topology = build_topology(self.plan, name, settings, queue_prefix)
        self.counters = Counters()
        self.step_stats = StepStats()  # per-step runs and time, for `metrics.WorkerCollector`
        self.lean = settings.lean_transport
        lean_options: dict[str, Any] = {"Stream": LeanStream} if self.lean else {}
        app_class = LeanApp if self.lean else faust.App
        app_id = app_id or f"{settings.topic_prefix}.{name}"
        if "datadir" not in app_options:  # (the test harness passes a temporary one)
            app_options["datadir"] = faust_datadir(settings, app_id)
        self.app = app_class(
            app_id,
            broker=[f"kafka://{b.strip()}" for b in settings.brokers.split(",") if b.strip()],
            key_serializer="raw",
            value_serializer="raw",
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication,
            producer_linger=settings.producer_linger_ms / 1000.0,
            producer_acks=-1,
            # room for a whole agent batch per partition: a full 16 KiB batch (aiokafka's
            # default) makes the next send wait until the broker took the previous one
            producer_max_batch_size=512 * 1024,
            web_enabled=bool(app_options.pop("web_enabled", False)),
            **lean_options,
            # a crashed worker's partitions move to the others after 10 s, not Faust's 60 s;
            # an agent's queue holds a few batches, not Faust's 4096 events, and a fetch brings
            # 64 KiB a partition, not 1 MiB (memory under load)
            **{
                "broker_session_timeout": 10.0,
                "broker_heartbeat_interval": 1.0,
                # offsets committed every second, not Faust's 2.8 s: a crash replays less
                "broker_commit_interval": settings.commit_interval_seconds,
                "stream_buffer_maxsize": 4 * MAX_BATCH,
                "consumer_max_fetch_size": FETCH_BYTES_PER_PARTITION,
                **app_options,
            },
        )
        self._tables: dict[str, MutableMapping[str, Any]] = {}
        self._changelogs: list[Any] = []  # Merge/Collector changelog topics (state_table.py)
        self._declared: asyncio.Future[None] | None = None
        if isinstance(self.app, LeanApp):  # its consumer subscribes once the topics exist
            self.app.declare_topics = self._declare_topics
        self._batch_flushers: list[Callable[[], Awaitable[None]]] = []
        self._pending_acks: set[asyncio.Future[None]] = set()  # batch flushes under way
        self._acker = DeliveryAcker(self.counters)
        self._sender: RecordSender | None = None
        # step -> successor run inline in its agent (STREAMGRAPH_FUSE_STEPS, fusion.py)
        self.fused = fused_successors(self.plan, self.topology) if settings.fuse_steps else {}
        # exactly_once: a transaction per batch and input partition (transactions.py)
        self.eos: PartitionTransactions | None = None
        self.states = StepStates()  # Merge and Collector state (state_table.py)
        if settings.processing_guarantee == "exactly_once":
            self.eos = self._transactions()
        self.executor = StepExecutor(
            self.plan,
            self.topology,
            self._send,
            self._state,
            fused=self.fused,
            timed=self.step_stats.record,
        )
        for step_name in self.plan.steps:
            self._add_agent(step_name)
        add_state_expiry(self, self._tables)

    def _transactions(self) -> PartitionTransactions:
        """The transactional producers of exactly_once; refuses what cannot join them."""
        refuse_unsupported(self.plan, self.topology, self.lean)
        settings = self.settings
        eos = PartitionTransactions(
            self.app.conf.id,
            self.app.conf.id,  # Faust's consumer group is the app id
            {topic for topics in self.topology.sources.values() for topic in topics},
            {
                "bootstrap_servers": settings.brokers,
                "linger_ms": settings.producer_linger_ms,
                "max_batch_size": 512 * 1024,
            },
            self.counters.produced,
        )
        self.app.eos = eos  # type: ignore[attr-defined]  # read by transport.LeanConsumer
        eos.on_failure = self.app.crash

        async def stop_producers(app: Any, *args: Any, **kwargs: Any) -> None:
            # the app stopped consuming and waited for its records' acks (their commits)
            await eos.stop()

        self.app.on_before_shutdown.connect(stop_producers)  # type: ignore[arg-type]
        eos.restore = self.states.restore  # (after the producers fenced the previous owners)
        return eos

    # -- wiring ---------------------------------------------------------------------------------
    def _add_agent(self, name: str) -> None:
        step = self.plan.steps[name]
        topics = self.topology.sources[name]
        # internal=True: Faust creates these topics before it subscribes to them (a consumer
        # subscribed to a missing topic gets no partitions until its metadata refreshes)
        channel = self.app.topic(
            *topics,
            schema=(LeanSchema if self.lean else faust.Schema)(key_type=bytes, value_type=bytes),
            internal=True,
            partitions=self.settings.partitions,
            replicas=self.settings.replication,
        )
        if step.stateful in MERGING:
            self._add_state(name)
        if step.stateful == "batch":
            agent = self._batch_agent(name)
        else:
            agent = self._step_agent(name)
        self.app.agent(channel, name=f"{self.topology.step_topics[name]}.agent")(agent)

    def _add_state(self, name: str) -> None:
        """A Merge or Collector step's table and its changelog topic (state_table.py)."""
        table_name = f"{self.topology.step_topics[name]}.state"
        changelog = self.app.topic(
            f"{self.app.conf.id}-{table_name}-changelog",  # Faust's name for a table's
            partitions=self.settings.partitions,
            replicas=self.settings.replication,
            compacting=True,
            internal=True,
        )
        table = StateTable(changelog.get_topic_name(), self.settings.brokers)
        if not self.states.by_topic and self.eos is None:  # (exactly_once: transactions.py)
            self.app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]
            self.app.on_partitions_assigned.connect(self._on_partitions_assigned)  # type: ignore[arg-type]
        for topic in self.topology.sources[name]:  # its own, and the entry topic if it starts
            self.states.by_topic[topic] = table
        self.states.declares.append(changelog.maybe_declare)
        self._tables[name] = ExpiringState(table, self.settings.merge_ttl_seconds)
        self._changelogs.append(changelog)

    async def _on_partitions_revoked(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.states.on_revoked()

    async def _on_partitions_assigned(self, app: Any, *args: Any, **kwargs: Any) -> None:
        (assigned,) = args  # Faust's signal: (app, assigned, signal=...)
        await self.states.on_assigned((tp.topic, tp.partition) for tp in assigned)

    async def flush_batches(self) -> None:
        """Emit every partly filled batch now (what `wait_for_completion` does)."""
        for flush_all in self._batch_flushers:
            await flush_all()

    def _state(self, name: str) -> MutableMapping[str, Any]:
        return self._tables[name]

    async def _declare_topics(self) -> None:
        """Create every topic this graph writes to before the first record is produced."""
        if self._declared is None:
            self._declared = asyncio.get_running_loop().create_future()
            try:
                for topic in self.topology.all_topics():
                    await self.app.topic(topic).maybe_declare()
                # (declared on the first assignment too): tracking a missing topic would let
                # the broker auto-create it with the wrong partitions
                for changelog in self._changelogs:
                    await changelog.maybe_declare()
                self.sender()
                self._declared.set_result(None)
            except Exception as exc:
                self._declared.set_exception(exc)
                raise
        await self._declared

    def sender(self) -> RecordSender:
        """The sender over aiokafka's producer (at_least_once); changelogs tracked before use."""
        if self._sender is None:
            # aiokafka's producer under Faust's wrapper: the wrapper costs ~10% per record here
            producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
            for changelog in self._changelogs:
                track_topic(producer.client, changelog.get_topic_name())
            self._sender = RecordSender(producer, self.counters.produced)
        return self._sender

    async def _send(self, emission: Emission) -> Awaitable[Any]:
        if self.eos is not None:
            sender = current_sender.get()
            if sender is None:  # a record outside any transaction would break the guarantee
                raise StreamgraphError(
                    f"exactly_once: a record to {emission.topic} outside a batch"
                )
            return await sender.send(emission)
        return await (self._sender or self.sender()).send(emission)

    # -- agents ---------------------------------------------------------------------------------
    def _step_agent(self, name: str) -> Any:
        per_event = not self.lean  # a stock Faust stream has no `batches()`

        async def agent(stream: Any) -> None:
            await self._declare_topics()
            if per_event:
                async for record in stream.noack().events():
                    await self._run_records(name, [record])
            elif self.eos is not None:
                async for records in stream.batches(MAX_BATCH):
                    await self._run_in_transactions(name, records)
            else:
                async for records in stream.batches(MAX_BATCH):
                    await self._run_records(name, records)

        agent.__name__ = f"step_{name}"
        return agent

    async def _run_records(self, name: str, records: list[Any]) -> None:
        """Run step `name` on each record; ack them all once everything they caused is sent
        (a Merge's or Collector's state changes included)."""
        if self.plan.steps[name].stateful in MERGING:
            if not self.states.ready.is_set():  # a rebalance: the entries are being read
                await self.states.ready.wait()
            sent: list[Awaitable[Any]] = []
            sender = self._sender or self.sender()
            for (topic, partition), part in _by_partition(records).items():

                async def work(part: list[Any] = part) -> list[Awaitable[Any]]:
                    return await self._run_steps(name, part)

                sent += await self.states.run(topic, partition, work, sender)
        else:
            sent = await self._run_steps(name, records)
        self.counters.in_flight += 1
        self._acker.add(records, sent)

    async def _run_in_transactions(self, name: str, records: list[Any]) -> None:
        """exactly_once: each input partition's records to its next transaction (group commit).

        The records are acked once it committed; the ack only lets Faust forget them (its offset
        commits are off): the offsets are committed by the transaction, with what they caused."""
        eos = self.eos
        assert eos is not None

        async def work(part: list[Any]) -> None:
            # the delivery futures need no wait: the commit waits for them, and fails if one did
            message = part[0].message
            await self.states.run(
                message.topic, message.partition, lambda: self._run_steps(name, part), None
            )

        for (topic, partition), part in _by_partition(records).items():
            self.counters.in_flight += len(part)
            await eos.submit(topic, partition, part, work, self._committed)

    def _committed(self, records: list[Any]) -> None:
        for record in records:
            record.ack()
        self.counters.in_flight -= len(records)

    async def _run_steps(self, name: str, records: list[Any]) -> list[Awaitable[Any]]:
        """Run step `name` on each record; the delivery futures of everything sent."""
        sent: list[Awaitable[Any]] = []
        for record in records:
            event = await self._decode(record, name, sent)
            if event is None:
                continue
            if tracing.ENABLED:
                queue_span(event, record.message)
            if event.deadline is not None and expired(event):
                self.executor.expired.note(name, event)  # acked with the others, never run
                continue
            started = perf_counter()
            try:
                sent.extend(await self.executor.run(name, event))
            except Exception as exc:  # the executor routes step errors; this is a bug
                logger.exception("step %s crashed on event %s", name, event.id)
                sent.append(await self.executor.dead_letter(event, f"internal error: {exc}", name))
            self.step_stats.record(name, perf_counter() - started, event)
        return sent

    def _batch_agent(self, name: str) -> Any:
        """A Batch step's agent (batch_driver.py: the core's batching policy over records)."""
        driver = BatchDriver(
            name,
            self.executor,
            self._decode,
            self._acker,
            self.counters,
            self._pending_acks,
            self._declare_topics,
        )
        self._batch_flushers.append(driver.flush_all)
        return driver.agent()

    async def _decode(self, record: Any, name: str, sent: list[Awaitable[Any]]) -> Event | None:
        """The record's event; None for an unreadable record, sent to the dead letters."""
        message = record.message
        self.counters.consumed[message.topic] = self.counters.consumed.get(message.topic, 0) + 1
        try:
            return decode(message.key, message.value, message.headers)
        except RecordError as exc:
            self.counters.dead_letters += 1
            raw = Event(message.value, None)
            sent.append(await self.executor.dead_letter(raw, str(exc), name))
            return None

    async def stop_background(self) -> None:
        """Cancel the acker and batch timers (after the app stopped consuming)."""
        tasks = list(self._pending_acks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending_acks.clear()
        await self._acker.stop()
        if self.eos is not None:
            await self.eos.stop()


def faust_datadir(settings: Settings, app_id: str) -> Path:
    """Faust's data folder for the app `app_id`: `<state folder>/faust/<app id>`.

    Faust's default, `<app id>-data` in the current folder, left a folder wherever a worker
    ran. Faust creates the app's own folder when the app first starts, but not its parents.
    """
    parent = settings.state_folder() / "faust"
    parent.mkdir(parents=True, exist_ok=True)
    return parent / app_id


def _by_partition(records: list[Any]) -> dict[tuple[str, int], list[Any]]:
    """The records of each input topic and partition, in their order."""
    parts: dict[tuple[str, int], list[Any]] = {}
    for record in records:
        message = record.message
        parts.setdefault((message.topic, message.partition), []).append(record)
    return parts


def build_app(
    function: Any,
    settings: Settings | None = None,
    current_function: str | None = None,
    namespace: dict[str, Any] | None = None,
) -> faust.App:
    """The Faust app for `function` (its parent steps; `current_function` names a child)."""
    settings = settings or Settings()
    graph = KafkaGraph(
        function,
        settings,
        current_function,
        namespace,
        model_workers=settings.dedicated_model_workers,
    )
    graph.app.streamgraph = graph  # type: ignore[attr-defined]
    return graph.app
