"""exactly_once: Kafka transactions per input partition, owned by streamgraph (not Faust).

Every input partition a worker is assigned gets its own transactional producer, with the
transactional id `<app id>|<topic>|<partition>` (the classic scheme of Kafka Streams before
KIP-447). Records of one input partition run inside a transaction of that partition's producer:
every record they caused, on any topic (next steps, output, replies, dead letters, Merge and
Collector changelogs: state/state_table.py), and their next input offset for the group
(`send_offsets_to_transaction`) commit together or not at all.
Group commit: an agent hands each batch's records to their partition's lane and goes on; a lane
runs one transaction at a time, and the next one takes everything that queued meanwhile
(bench/kafka_pipeline.py: 0.57x-0.82x the events/s of at_least_once, where a transaction per
agent batch, awaited before the next batch, did 0.27x).

Fencing: whoever is assigned a partition starts its producer before the partition is read
(`on_assigned`, called before Faust's own assignment handling). Starting a producer with a
transactional id bumps the id's epoch: the coordinator aborts (or finishes) the transaction a
previous owner left open, and fences that owner, whose next commit fails. So the offsets the new
owner then reads from the group are final. The group-metadata form (KIP-447: one producer per
worker, fenced by the consumer generation) needs `send_offsets_to_transaction` to carry the
group's generation and member id, which aiokafka 0.14 does not send.

Offsets are committed only by these transactions: the consumer's own commits are switched off
(transport.LeanConsumer), and it reads `read_committed`, so aborted records are never processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from ...connection.kafka_security import KafkaSecurity
from ...core.compile import Plan
from ...core.outcome import MERGING
from ...errors import StreamgraphError
from .sender import RecordSender
from .topology import Topology

__all__ = [
    "PartitionTransactions",
    "current_sender",
    "refuse_unsupported",
    "transactional_id_prefix",
]

logger = logging.getLogger("streamgraph.kafka.eos")

# the sender of the transaction the running agent task is in (each agent is its own task)
current_sender: ContextVar[RecordSender | None] = ContextVar("current_sender", default=None)

# a failed transaction is retried after this long (the broker may be restarting)
RETRY_SECONDS = 1.0
# a transaction's own requests (offsets, commit, abort) not answered by then count as failed:
# after a SIGKILLed broker came back, aiokafka 0.14 left some transactions waiting forever
# (their partitions stuck, never retried); the producer is restarted instead
KAFKA_STEP_SECONDS = 30.0
# how long the broker lets a transaction stay open before it aborts it (and fences the producer,
# whose partition's batches are then left alone until the next assignment): aiokafka's 60 s
# default would cut a batch whose steps call slow models; 5 min is within the broker's default
# transaction.max.timeout.ms (15 min). A crashed owner's open transaction is aborted sooner, by
# its successor's producer start.
TRANSACTION_TIMEOUT_MS = 300_000
# records queued for one input partition's next transaction before the agent waits for room
MAX_PENDING = 1000

Key = tuple[str, int]  # an input topic and partition
Work = Callable[[list[Any]], Awaitable[None]]  # runs the steps on records, inside a transaction
Done = Callable[[list[Any]], None]  # called with the records once their transaction committed
# (assigned, fresh): keep the state of `assigned` partitions only; read `fresh` ones' again
Restore = Callable[[set[Key], set[Key]], Awaitable[None]]


def transactional_id_prefix(app_id: str) -> str:
    """What every transactional id of the app `app_id` starts with (`|` is in no topic name,
    so no other app's ids start with it)."""
    return f"{app_id}|"


class _Lane:
    """The records of one input partition waiting for its next transaction, and its task."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.ready = asyncio.Event()  # records were added
        self.room = asyncio.Event()  # the queue was taken (the agent may add more)
        self.task: asyncio.Task[None] | None = None


class _Partition:
    """The transactional producer of one input partition and its sender."""

    def __init__(self, producer: AIOKafkaProducer, produced: dict[str, int]) -> None:
        self.producer = producer
        self.sender = RecordSender(producer, produced)
        self.lock = asyncio.Lock()  # one transaction at a time per producer


class PartitionTransactions:
    """Transactional producers of the assigned input partitions and their lanes."""

    def __init__(
        self,
        app_id: str,
        group_id: str,
        topics: Iterable[str],
        producer_options: dict[str, Any],
        produced: dict[str, int],
        security: KafkaSecurity,
    ) -> None:
        self.app_id = app_id
        self.topics = frozenset(topics)  # the agents' input topics (not Faust's leader topic)
        self.group_id = group_id
        self._options = producer_options  # with `bootstrap_servers`
        self._security = security
        self._produced = produced
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._starting: dict[tuple[str, int], asyncio.Future[_Partition]] = {}
        self._admin: AIOKafkaAdminClient | None = None  # started on first use (after a failure)
        # never start a producer for a partition not assigned here: it would fence its owner
        self._assigned: set[tuple[str, int]] = set()
        # fenced here: another worker owns it; its batches are dropped until the next assignment
        self._lost: set[tuple[str, int]] = set()
        self._lanes: dict[tuple[str, int], _Lane] = {}
        # what to do when a batch fails outside Kafka (the worker crashes itself)
        self.on_failure: Callable[[BaseException], Awaitable[None]] | None = None
        # what to do when Kafka refuses a producer (its transactional id without an ACL): the
        # worker ends in one line naming the id (refusals.py); True when it was such a refusal
        self.on_refused: Callable[[BaseException, str], bool] | None = None
        # Merge/Collector state (state/state_table.py): read from its changelog where not known
        self.restore: Restore | None = None
        self.commits = 0  # transactions committed (metrics, tests)
        self.aborts = 0  # failures retried (a transaction, or reading its offset back)
        self.dropped = 0  # batches dropped because another worker owns their partition now

    def transactional_id(self, topic: str, partition: int) -> str:
        return f"{transactional_id_prefix(self.app_id)}{topic}|{partition}"

    async def on_assigned(self, assigned: Iterable[Any]) -> None:
        """Start the producers of newly assigned partitions; stop those of revoked ones.

        Called before the consumer seeks to the group's committed offsets: a started producer
        has fenced the previous owner and closed its open transaction."""
        wanted = {(tp.topic, tp.partition) for tp in assigned if tp.topic in self.topics}
        # state kept in memory is current only for partitions held (and not fenced) till now
        fresh = wanted - (self._assigned - self._lost)
        self._assigned, self._lost = wanted, set()
        gone = [key for key in self._partitions if key not in wanted]
        await asyncio.gather(*(self._stop(key) for key in gone))
        await asyncio.gather(*(self._get(*key) for key in wanted))
        logger.info("transactional producers ready for %d input partitions", len(wanted))
        if self.restore is not None:  # the producers closed what previous owners left open
            await self.restore(wanted, fresh)

    async def _get(self, topic: str, partition: int) -> _Partition:
        key = (topic, partition)
        found = self._partitions.get(key)
        if found is not None:
            return found
        starting = self._starting.get(key)
        if starting is None:
            starting = self._starting[key] = asyncio.ensure_future(self._start(key))
        try:
            return await asyncio.shield(starting)
        finally:
            if starting.done():
                self._starting.pop(key, None)

    async def _start(self, key: tuple[str, int]) -> _Partition:
        transactional_id = self.transactional_id(*key)
        producer = AIOKafkaProducer(
            transactional_id=transactional_id,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            **self._options,
            **self._security.aiokafka_args(),
        )
        try:
            await producer.start()  # InitProducerId: fences the previous owner of this id
        except Exception as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            if self.on_refused is not None:
                self.on_refused(exc, f"transactional id {transactional_id}")
            raise
        part = self._partitions[key] = _Partition(producer, self._produced)
        return part

    async def _stop(self, key: tuple[str, int]) -> None:
        part = self._partitions.pop(key, None)
        if part is not None:
            async with part.lock:  # a transaction under way ends first
                try:
                    await asyncio.wait_for(part.producer.stop(), KAFKA_STEP_SECONDS)
                except Exception:  # (a wedged producer: its epoch is fenced by the next one)
                    logger.warning("stopping the producer of %s[%d] failed", *key, exc_info=True)

    async def stop(self) -> None:
        """Stop the lanes and producers (again: nothing more to do). A transaction under way is
        left open; the partition's next owner aborts it when its producer starts."""
        lanes = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        self._lanes.clear()
        started = list(self._partitions)
        await asyncio.gather(*(self._stop(key) for key in started))
        if started:
            logger.info("stopped the transactional producers of %d input partitions", len(started))
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    # -- group commit: a partition's records queue while its previous transaction commits -----
    async def submit(
        self, topic: str, partition: int, records: list[Any], work: Work, done: Done
    ) -> None:
        """Queue `records` of one input partition (in offset order) for its next transaction.

        The agent goes on with its next batch meanwhile; whatever queued for the partition while
        a transaction committed goes into the next one. Waits only while MAX_PENDING records
        are queued for the partition."""
        key = (topic, partition)
        lane = self._lanes.get(key)
        if lane is None or lane.task is None or lane.task.done():
            lane = self._lanes[key] = _Lane()
            lane.task = asyncio.ensure_future(self._drain(key, lane, work, done))
        lane.records.extend(records)
        lane.ready.set()
        while len(lane.records) > MAX_PENDING and not lane.task.done():
            lane.room.clear()
            await lane.room.wait()

    async def _drain(self, key: tuple[str, int], lane: _Lane, work: Work, done: Done) -> None:
        while True:
            await lane.ready.wait()
            lane.ready.clear()
            while lane.records:
                records, lane.records = lane.records, []
                lane.room.set()

                async def batch(records: list[Any] = records) -> None:
                    await work(records)

                try:
                    await self.run(key[0], key[1], records[-1].message.offset + 1, batch)
                except Exception as exc:
                    # not committed, not acked: the worker stops, and the next owner of the
                    # partition redoes the records from the committed offset
                    logger.exception("%s[%d]: a batch failed outside Kafka", *key)
                    if self.on_failure is not None:
                        await self.on_failure(exc)
                    return
                done(records)

    async def run(
        self,
        topic: str,
        partition: int,
        next_offset: int | None,
        work: Callable[[], Awaitable[None]],
    ) -> bool:
        """Run `work` in a transaction that also commits `next_offset` for the group (None:
        no offset, for state housekeeping that may be redone, as expired entries' tombstones).

        Retried (after an abort, in a new producer) until it commits; False if the partition
        belongs to another worker now (this one was fenced, or the partition revoked): that one
        redoes the batch from the offset committed last."""
        key = (topic, partition)
        # after a failure: whether that transaction committed after all (its commit's answer
        # lost) is unknown until the restarted producer closed it and the offset is read back
        uncertain = False
        while True:
            if key in self._lost or key not in self._assigned:
                self.dropped += 1
                logger.warning(
                    "%s[%d] is not this worker's (fenced or revoked): a batch of it is left "
                    "to its owner",
                    topic,
                    partition,
                )
                return False
            try:
                part = await self._get(topic, partition)  # (a restart, after a failure)
                if uncertain:
                    if next_offset is not None and await self._committed_anyway(
                        topic, partition, next_offset
                    ):
                        return True
                    if self.restore is not None:  # the memory may hold the failed changes
                        await self.restore(self._assigned, {key})
                    uncertain = False
                async with part.lock:
                    if self._partitions.get(key) is not part:
                        continue  # stopped while we waited: revoked, or restarted
                    await self._transaction(part, topic, partition, next_offset, work)
                self.commits += 1
                return True
            except ProducerFenced:
                logger.warning("fenced on %s[%d]: another worker took it over", topic, partition)
                self._lost.add(key)
                await self._stop(key)
            except (KafkaError, OSError, TimeoutError):
                self.aborts += 1
                logger.exception(
                    "transaction on %s[%d] failed; retrying the batch in a new producer",
                    topic,
                    partition,
                )
                uncertain = True
                await self._stop(key)
                await asyncio.sleep(RETRY_SECONDS)

    async def _committed_anyway(self, topic: str, partition: int, next_offset: int) -> bool:
        """Whether the group's offset for the partition reached `next_offset`: the failed
        transaction committed after all. Asked after the partition's producer restarted (that
        start closed the transaction), so the offset read is final; KafkaError if unreadable."""
        admin = await self._admin_client()
        tp = TopicPartition(topic, partition)
        offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
        meta = offsets.get(tp)
        committed = meta.offset if meta is not None else -1
        if committed < next_offset:
            return False
        logger.warning(
            "the failed transaction on %s[%d] had committed (offset %d): not redone",
            topic,
            partition,
            committed,
        )
        self.commits += 1
        return True

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._options["bootstrap_servers"],
                **self._security.aiokafka_args(),
            )
            await admin.start()
            self._admin = admin
        return self._admin

    async def _transaction(
        self,
        part: _Partition,
        topic: str,
        partition: int,
        next_offset: int | None,
        work: Callable[[], Awaitable[None]],
    ) -> None:
        producer = part.producer
        await asyncio.wait_for(producer.begin_transaction(), KAFKA_STEP_SECONDS)
        token = current_sender.set(part.sender)
        # the offsets are known up front: their two requests go while the steps run and send
        offsets = asyncio.ensure_future(
            producer.send_offsets_to_transaction(
                {TopicPartition(topic, partition): next_offset}, self.group_id
            )
            if next_offset is not None
            else asyncio.sleep(0)
        )
        try:
            await work()  # (steps may take long: only Kafka's own requests are timed)
            await asyncio.wait_for(offsets, KAFKA_STEP_SECONDS)
        except BaseException as exc:
            if not offsets.done():
                offsets.cancel()
            await asyncio.gather(offsets, return_exceptions=True)
            current_sender.reset(token)
            if not isinstance(exc, asyncio.CancelledError | TimeoutError):  # (not wedged)
                try:
                    await asyncio.wait_for(producer.abort_transaction(), KAFKA_STEP_SECONDS)
                except Exception:  # a failed producer: the caller restarts it
                    logger.debug("aborting failed", exc_info=True)
            raise
        current_sender.reset(token)
        await asyncio.wait_for(producer.commit_transaction(), KAFKA_STEP_SECONDS)


def refuse_unsupported(plan: Plan, topology: Topology, lean: bool) -> None:
    """Refuse a graph whose records or offsets could not all join the transactions."""
    if not lean:
        raise StreamgraphError(
            "processing_guarantee='exactly_once' needs lean_transport=true: its consumer "
            "reads read_committed and leaves offset commits to streamgraph's transactions"
        )
    batches = sorted(name for name, step in plan.steps.items() if step.stateful == "batch")
    if batches:
        raise StreamgraphError(
            "processing_guarantee='exactly_once' is not supported for graphs with Batch steps "
            f"({', '.join(batches)}): a Batch step holds inputs across transactions; use "
            "at_least_once for this graph"
        )
    for name, step in plan.steps.items():
        if step.stateful in MERGING and len(topology.sources[name]) > 1:
            raise StreamgraphError(
                f"processing_guarantee='exactly_once' is not supported for the {step.stateful} "
                f"step {name}, which reads several topics: its state partitions follow one "
                "topic's; use at_least_once for this graph"
            )
    readers: dict[str, list[str]] = {}
    for name, topics in topology.sources.items():
        for topic in topics:
            readers.setdefault(topic, []).append(name)
    shared = {topic: names for topic, names in readers.items() if len(names) > 1}
    if shared:
        topic, names = next(iter(shared.items()))
        raise StreamgraphError(
            "processing_guarantee='exactly_once' is not supported when several steps read "
            f"one topic ({topic}: {', '.join(names)}): each would commit the topic's "
            "offsets at its own pace; use at_least_once for this graph"
        )
