"""Compile a serving function into a Faust app: every step one agent, one topic each.

    app = build_app(function)            # a topology module exposes it as `app`
    # faust -A topologies.NAME worker -l info

`KafkaGraph` compiles the function (plan, topics), builds the Faust app (faust_app.py) and wires
its parts: an agent per step on the step's topics, the topics this graph writes to declared
before the first record is produced, the step agents' record loop (record_driver.py), a Batch
step's agent (batch_driver.py), Merge and Collector state with its changelogs and expiry
(state/), where records go (outbox.py), and under exactly_once the partitions' transactions
(exactly_once.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from ...connection.kafka_failures import access_error
from ...connection.kafka_security import kafka_security
from ...core import tracing
from ...core.compile import Plan, compile_graph
from ...core.context import GraphContext
from ...core.outcome import MERGING
from ...errors import StreamgraphError
from ...settings import Settings
from ...wire.topic_metadata import wait_until_visible
from .acks import Counters, DeliveryAcker
from .batch_driver import BatchDriver
from .exactly_once import app_transactions
from .executor import StepExecutor
from .faust_app import new_faust_app, step_schema
from .fusion import fused_successors
from .metrics import StepStats
from .outbox import Outbox
from .record_driver import RecordDriver
from .refusals import fail_worker
from .remote_model import RemoteModels
from .sender import RecordSender
from .state.expiry import add_state_expiry
from .state.stateful_steps import StatefulSteps
from .topology import Topology, build_topology
from .transactions import PartitionTransactions
from .transport import LeanApp

logger = logging.getLogger("streamgraph.kafka")


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
        name = current_function if current_function not in (None, "", "*") else function.name
        # a worker's spans carry its function's name unless STREAMGRAPH_OTEL_SERVICE_NAME is set
        tracing.configure(settings.otel_endpoint, settings.otel_service_name or name)
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
        app_id = app_id or f"{settings.topic_prefix}.{name}"
        self.app = new_faust_app(app_id, settings, self.lean, app_options)
        self._declared: asyncio.Future[None] | None = None
        if isinstance(self.app, LeanApp):  # its consumer subscribes once the topics exist
            self.app.declare_topics = self._declare_topics
        self._batch_flushers: list[Callable[[], Awaitable[None]]] = []
        self._pending_acks: set[asyncio.Future[None]] = set()  # batch flushes under way
        self._acker = DeliveryAcker(self.counters, self._refused)
        # step -> successor run inline in its agent (STREAMGRAPH_FUSE_STEPS, fusion.py)
        self.fused = fused_successors(self.plan, self.topology) if settings.fuse_steps else {}
        exactly_once = settings.processing_guarantee == "exactly_once"
        # Merge and Collector state: a table and changelog per step (state/)
        self.stateful = StatefulSteps(self.app, self.topology, settings, exactly_once)
        self.states = self.stateful.states
        # exactly_once: a transaction per batch and input partition (transactions.py)
        self.eos: PartitionTransactions | None = None
        if exactly_once:
            self.eos = app_transactions(
                self.app,
                self.plan,
                self.topology,
                settings,
                self.lean,
                self.counters.produced,
                self.states.restore,
            )
            self.eos.on_refused = self._refused
        self.outbox = Outbox(self.app, self.counters.produced, self.stateful.changelogs, self.eos)
        self.executor = StepExecutor(
            self.plan,
            self.topology,
            self.outbox.send,
            self.stateful.state,
            fused=self.fused,
            timed=self.step_stats.record,
        )
        self.records = RecordDriver(
            plan=self.plan,
            executor=self.executor,
            outbox=self.outbox,
            acker=self._acker,
            counters=self.counters,
            step_stats=self.step_stats,
            states=self.states,
            eos=self.eos,
            declare_topics=self._declare_topics,
            lean=self.lean,
        )
        for step_name in self.plan.steps:
            self._add_agent(step_name)
        add_state_expiry(
            self.app,
            self.stateful.tables,
            self.states,
            self.eos,
            self.outbox.sender,
            self.counters,
            settings.merge_ttl_seconds,
        )

    # -- wiring ---------------------------------------------------------------------------------
    def _add_agent(self, name: str) -> None:
        step = self.plan.steps[name]
        topics = self.topology.sources[name]
        # internal=True: Faust creates these topics before it subscribes to them (a consumer
        # subscribed to a missing topic gets no partitions until its metadata refreshes)
        channel = self.app.topic(
            *topics,
            schema=step_schema(self.lean),
            internal=True,
            partitions=self.settings.partitions,
            replicas=self.settings.replication,
        )
        if step.stateful in MERGING:
            self.stateful.add(name)
        if step.stateful == "batch":
            agent = self._batch_agent(name)
        else:
            agent = self.records.agent(name)
        self.app.agent(channel, name=f"{self.topology.step_topics[name]}.agent")(agent)

    async def _declare_topics(self) -> None:
        """Create every topic this graph writes to before the first record is produced."""
        if self._declared is None:
            self._declared = asyncio.get_running_loop().create_future()
            try:
                for topic in self.topology.all_topics():
                    await self.app.topic(topic).maybe_declare()
                # (declared on the first assignment too): tracking a missing topic would let
                # the broker auto-create it with the wrong partitions
                for changelog in self.stateful.changelogs:
                    await changelog.maybe_declare()
                # before any consumer of this graph subscribes (wire/topic_metadata.py)
                names = [*self.topology.all_topics()]
                names += [name for log in self.stateful.changelogs for name in log.topics]
                await wait_until_visible(
                    self.settings.brokers, names, security=kafka_security(self.settings)
                )
                self.sender()
                self._declared.set_result(None)
            except Exception as exc:
                self._declared.set_exception(exc)
                raise
        await self._declared

    def _refused(self, exc: BaseException, resource: str | None = None) -> bool:
        """A delivery (or a transactional producer) the broker refused for want of an ACL (or
        a login) ends the worker, in one line (refusals.py); its input stays unacked, so
        uncommitted. Else False."""
        security = kafka_security(self.settings)
        refused = access_error(exc, self.settings.brokers, security, resource)
        if refused is None:
            return False
        fail_worker(self.app, refused)  # (returns only outside a worker process)
        return True

    def sender(self) -> RecordSender:
        """The sender over aiokafka's producer (at_least_once); changelogs tracked before use."""
        return self.outbox.sender()

    async def flush_batches(self) -> None:
        """Emit every partly filled batch now (what `wait_for_completion` does)."""
        for flush_all in self._batch_flushers:
            await flush_all()

    def _batch_agent(self, name: str) -> Any:
        """A Batch step's agent (batch_driver.py: the core's batching policy over records)."""
        driver = BatchDriver(
            name,
            self.executor,
            self.records.decode,  # (the step agents' decoder: dead letters, counts)
            self._acker,
            self.counters,
            self._pending_acks,
            self._declare_topics,
        )
        self._batch_flushers.append(driver.flush_all)
        return driver.agent()

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
