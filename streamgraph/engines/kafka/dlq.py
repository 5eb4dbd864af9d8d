"""`streamgraph dlq replay`: send dead letters back to the topic of the step they failed in.

After a fix (new code, a model that loads again), the records in `<prefix>.<function>.dlq` go
back to their origin step's topic, without the error headers and the request's deadline. The
replay reads with its own consumer group and commits what it re-published, so running it twice
replays nothing twice.

A replay reads each partition up to its end offset taken when it starts, and stops there. A
replayed record that fails again goes back to the dead-letter topic, after that end, and waits for
the next replay (reading until idle, as replays once did, re-sent such a record forever). The ends
are read_committed ones: an exactly_once worker writes dead letters in transactions, whose commit
markers take offsets no consumer ever sees, so a partition is done once the consumer's position
reached its end, never judged by the last record's offset.

Once the re-published records were delivered, the replay watches the dead-letter topic past those
ends for up to `settle_seconds`: a record there with the key (event id) of a replayed one counts
as failed again (at most once per replayed record). Those stay for the next replay.

Cancelled (Ctrl-C), a replay stops reading, waits briefly for the records it already sent,
commits those delivered (per partition, up to the first one that was not), marks its report
interrupted and lets the cancellation through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from ...connection.kafka_failures import access_error, hidden_note
from ...connection.kafka_security import kafka_security
from ...errors import BrokerUnreachableError, StreamgraphError
from ...settings import Settings
from ...wire.codec import H_DEADLINE, H_ERROR, H_ORIGIN, H_ORIGIN_TOPIC, H_STATUS
from ...wire.producer import TrackingProducer
from ...wire.reach import QuietBootstrap

logger = logging.getLogger("streamgraph.kafka.dlq")

# (the request's deadline too: a replay comes after it, and the worker would drop the record)
_DROPPED = {H_ERROR, H_ORIGIN, H_ORIGIN_TOPIC, H_STATUS, H_DEADLINE}
FETCH_MS = 500  # one getmany's wait; also how often the idle bound and the settle time are seen
BATCH = 1000  # records re-published between two commits
DRAIN_SECONDS = 10.0  # how long a cancelled replay waits for the records it already sent

Progress = Callable[[str], None]


@dataclass
class ReplayReport:
    """What a replay did: records re-published per topic, and those it could not place."""

    replayed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # no origin topic (written by an older worker)
    failed_again: int = 0  # replayed records seen back in the dead-letter topic
    watched_seconds: float | None = None  # how long it watched for those (None: it did not)
    interrupted: bool = False
    stopped: str = ""  # why it stopped before the end taken at its start, if it did

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


@dataclass(slots=True)
class _Sent:
    tp: TopicPartition
    offset: int
    target: str
    key: bytes | None
    delivery: Any  # the producer's future; None when send itself raised


class DeadLetterReplay:
    """One replay of `function`'s dead letters; `report` is filled as it goes (see `run`)."""

    def __init__(
        self,
        function: str,
        settings: Settings,
        *,
        idle_seconds: float = 10.0,
        settle_seconds: float = 5.0,
        connect_timeout: float = 15.0,
        progress: Progress | None = None,
        progress_seconds: float = 1.0,
        where_from: str = "",
    ) -> None:
        self.function = function
        self.settings = settings
        self.dlq = settings.topic(function, "dlq")
        self.idle_seconds = idle_seconds  # a safety bound: nothing arrives before the end
        self.settle_seconds = settle_seconds
        self.connect_timeout = connect_timeout
        self.progress = progress
        self.progress_seconds = progress_seconds
        self.where_from = where_from  # where the brokers came from, for the unreachable error
        self.report = ReplayReport()
        self._pending: list[_Sent] = []  # sent, not yet accounted for
        self._handled: dict[TopicPartition, int] = {}  # every record below was sent or skipped
        self._held: dict[TopicPartition, int] = {}  # first offset not delivered: commit stops
        self._committed: dict[TopicPartition, int] = {}
        self._keys: Counter[bytes] = Counter()  # keys of the delivered re-publications
        self._read = 0
        self._said = time.monotonic()

    async def run(self) -> ReplayReport:
        """Replay up to the ends taken at the start, watch for failures; the report.

        Raises BrokerUnreachableError when no broker answers, StreamgraphError when the
        dead-letter topic does not exist or Kafka fails on the way.
        """
        brokers = self.settings.brokers
        security = kafka_security(self.settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=brokers,
            group_id=f"{self.dlq}.replay",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
            **security.aiokafka_args(),
        )
        producer = TrackingProducer(
            bootstrap_servers=brokers, linger_ms=5, **security.aiokafka_args()
        )
        try:
            await self._start(consumer, producer)
            ends = await self._assign(consumer, producer)
            try:
                await self._replay(consumer, producer, ends)
                if not self.report.stopped:
                    await self._watch(consumer, ends)
            except asyncio.CancelledError:
                self.report.interrupted = True
                try:
                    await self._account(consumer, timeout=DRAIN_SECONDS)
                except KafkaError as exc:
                    logger.warning("committing what an interrupted replay delivered: %r", exc)
                raise
        except KafkaError as exc:
            refused = access_error(exc, brokers, security, f"group {self.dlq}.replay")
            if refused is not None:  # an ACL: its one line, no retry mends it
                raise refused from None
            raise StreamgraphError(f"replaying {self.dlq} at {brokers} failed: {exc!r}") from exc
        finally:
            try:
                await _close(consumer)
            finally:
                await _close(producer)
        report = self.report
        logger.info(
            "replayed %d dead letters of %s (%d skipped, %d failed again)",
            report.total,
            self.function,
            report.skipped,
            report.failed_again,
        )
        return report

    async def _start(self, consumer: AIOKafkaConsumer, producer: TrackingProducer) -> None:
        quiet = QuietBootstrap()  # our one error line says it; aiokafka's would repeat it
        client_log = logging.getLogger("aiokafka")
        client_log.addFilter(quiet)
        try:
            for client in (consumer, producer):
                await asyncio.wait_for(client.start(), self.connect_timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            security = kafka_security(self.settings)
            refused = access_error(quiet.last_error or exc, self.settings.brokers, security)
            if refused is not None:  # a refused login or TLS certificate: its own line
                raise refused from None
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {self.connect_timeout:g} s"
            else:
                detail = quiet.last or str(exc)
            raise BrokerUnreachableError(self.settings.brokers, self.where_from, detail) from None
        finally:
            client_log.removeFilter(quiet)

    async def _assign(
        self, consumer: AIOKafkaConsumer, producer: TrackingProducer
    ) -> dict[TopicPartition, int]:
        """Every partition of the dead-letter topic, assigned; their end offsets as of now."""
        # (assigned, not subscribed: no group join to wait for, and no topic auto-created)
        if self.dlq not in await consumer.topics():
            raise StreamgraphError(
                f"no dead-letter topic {self.dlq} at {self.settings.brokers}: no worker of "
                f"{self.function} ran there with topic prefix {self.settings.topic_prefix!r}"
                f"{hidden_note(kafka_security(self.settings))}"
            )
        # (the consumer's own `partitions_for_topic` knows only topics it already tracks)
        numbers = await producer.partitions_for(self.dlq)
        partitions = [TopicPartition(self.dlq, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        for tp in partitions:  # the group's committed offset, else the earliest
            self._committed[tp] = self._handled[tp] = await consumer.position(tp)
        return ends

    async def _replay(
        self,
        consumer: AIOKafkaConsumer,
        producer: TrackingProducer,
        ends: dict[TopicPartition, int],
    ) -> None:
        left = {tp for tp in ends if self._handled[tp] < ends[tp]}
        for tp in set(ends) - left:
            consumer.pause(tp)  # nothing to read (or everything replayed before)
        total = sum(ends[tp] - self._handled[tp] for tp in left)
        if total:
            self._say(f"replaying up to {total} dead letters from {self.dlq}")
        quiet_since = time.monotonic()
        while left:
            batches = await consumer.getmany(*left, timeout_ms=FETCH_MS, max_records=BATCH)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break  # arrived after the start: for the next replay
                    await self._send(producer, tp, record)
            moved = bool(batches)
            for tp in list(left):  # the position also passes commit markers and aborted records
                position = await consumer.position(tp)
                reached = min(position, ends[tp])
                moved = moved or reached > self._handled[tp]
                self._handled[tp] = max(self._handled[tp], reached)
                if position >= ends[tp]:
                    left.discard(tp)
                    consumer.pause(tp)
            self._tick(total)
            await self._account(consumer)
            if self.report.stopped:
                return
            if moved:
                quiet_since = time.monotonic()
            elif left and time.monotonic() - quiet_since > self.idle_seconds:
                names = ", ".join(str(tp.partition) for tp in sorted(left))
                self.report.stopped = (
                    f"nothing came from {self.dlq} (partitions {names}) for "
                    f"{self.idle_seconds:g} s before the end taken at the start"
                )
                return

    async def _send(self, producer: TrackingProducer, tp: TopicPartition, record: Any) -> None:
        headers = list(record.headers or ())
        target = dict(headers).get(H_ORIGIN_TOPIC, b"").decode()
        if not target:
            self.report.skipped += 1  # written by an older worker: no origin topic
        else:
            kept = [(k, v) for k, v in headers if k not in _DROPPED]
            try:
                delivery = await producer.send(target, record.value, key=record.key, headers=kept)
            except KafkaError as exc:
                logger.warning("re-publishing %s@%d to %s: %r", tp, record.offset, target, exc)
                delivery = None
            self._pending.append(_Sent(tp, record.offset, target, record.key, delivery))
        self._handled[tp] = record.offset + 1
        self._read += 1

    async def _account(self, consumer: AIOKafkaConsumer, timeout: float | None = None) -> None:
        """Wait for what was sent, count it, and commit every partition up to its first record
        that was not delivered (all it handled, when every one was)."""
        futures = [sent.delivery for sent in self._pending if sent.delivery is not None]
        if futures:
            await asyncio.wait(futures, timeout=timeout)  # (never cancels the deliveries)
        for sent in self._pending:
            delivery = sent.delivery
            if delivery is not None and delivery.done() and not delivery.cancelled():
                error = delivery.exception()
            else:
                error = "not delivered" if delivery is not None else "not sent"
            if error is None:
                self.report.replayed[sent.target] = self.report.replayed.get(sent.target, 0) + 1
                if sent.key is not None:
                    self._keys[sent.key] += 1
                continue
            self._held.setdefault(sent.tp, sent.offset)
            if not self.report.stopped and not self.report.interrupted:
                self.report.stopped = (
                    f"could not re-publish a dead letter to {sent.target}: {error}"
                )
        self._pending = []
        offsets = {}
        for tp, handled in self._handled.items():
            upto = min(handled, self._held.get(tp, handled))
            if upto > self._committed[tp]:
                offsets[tp] = upto
        if offsets:
            await consumer.commit(offsets)
            self._committed.update(offsets)

    async def _watch(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        """Count the replayed records that come back to the dead-letter topic (by key)."""
        wanted = sum(self._keys.values())
        if self.settle_seconds <= 0 or not wanted:
            return
        for tp, end in ends.items():  # from the ends taken at the start (nothing is committed)
            consumer.seek(tp, end)
        consumer.resume(*ends)
        self._say(f"watching {self.dlq} up to {self.settle_seconds:g} s for records failing again")
        back: Counter[bytes] = Counter()
        started = time.monotonic()
        self.report.watched_seconds = 0.0
        while self.report.failed_again < wanted:
            remaining = self.settle_seconds - (time.monotonic() - started)
            if remaining <= 0:
                break
            wait_ms = max(1, int(min(remaining * 1000, FETCH_MS)))
            batches = await consumer.getmany(timeout_ms=wait_ms, max_records=BATCH)
            for records in batches.values():
                for record in records:
                    if record.key is not None and back[record.key] < self._keys[record.key]:
                        back[record.key] += 1
            self.report.failed_again = sum(back.values())
            self.report.watched_seconds = time.monotonic() - started

    def _tick(self, total: int) -> None:
        if self.progress is not None and time.monotonic() - self._said >= self.progress_seconds:
            self._say(f"{self._read}/{total} dead letters read ({self.report.skipped} skipped)")

    def _say(self, line: str) -> None:
        self._said = time.monotonic()
        if self.progress is not None:
            self.progress(line)


async def replay_dead_letters(
    function: str,
    settings: Settings,
    idle_seconds: float = 10.0,
    settle_seconds: float = 5.0,
    progress: Progress | None = None,
) -> ReplayReport:
    """Re-publish every dead letter of `function` present when it starts (see the module doc)."""
    replay = DeadLetterReplay(
        function,
        settings,
        idle_seconds=idle_seconds,
        settle_seconds=settle_seconds,
        progress=progress,
    )
    return await replay.run()


async def _close(client: AIOKafkaConsumer | TrackingProducer) -> None:
    """Stop `client`, even one that never started or whose broker is gone (aiokafka 0.14's
    fetcher then raises CancelledError in the caller although nobody cancelled it)."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        logger.warning("stopping %s: a request in flight was cancelled", type(client).__name__)
    except KafkaError as exc:
        logger.warning("stopping %s: %r", type(client).__name__, exc)


__all__ = ["DeadLetterReplay", "ReplayReport", "replay_dead_letters"]
