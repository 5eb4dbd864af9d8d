"""`streamgraph inspect`: the records of one request on every topic of a function, in order.

Every record of a request carries its event id: as the record key and in the `sg-id` header
(a caller's `X-Request-Id` becomes the event id at the gateway, which answers with it). So the
topics are read directly, with no consumer group and nothing committed: every partition from
its start (or from `since`) up to the end offset it had when the scan began, which bounds the
scan however busy the topic is. A batched event names its members in `sg-members`; a record of
a batch holding the request matches too.

The function's topics are those named `<prefix>.<function>.*`: the entry topic, one per step,
the output and dead-letter topics, and the reply topics of gateways that are running (a
gateway deletes its own when it stops). Queue topics named by the user can be added.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from ...connection.kafka_security import KafkaSecurity
from ...errors import StreamgraphError
from ...wire.codec import H_ENCODING, H_ID, H_MEMBERS, H_SOURCE

# a caller's own id header as it travels on Kafka (aiohttp keeps the caller's spelling)
REQUEST_ID_HEADER = "x-request-id"
FETCH_MS = 500  # one getmany's wait when a partition has nothing more to give
PROGRESS_EVERY = 2.0  # seconds between progress reports on a long scan

Progress = Callable[[str], None]


@dataclass
class Found:
    """One record of the request."""

    topic: str
    step: str  # the topic's part after `<prefix>.<function>.`: in, a step, out, dlq, reply
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    depth: int = 0  # hops from the entry topic (orders records of the same millisecond)

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key == name:
                return raw.decode("utf-8", "replace")
        return None


@dataclass
class Scan:
    """What a scan found, and how much it read."""

    topics: list[str]
    found: list[Found] = field(default_factory=list)
    records_read: int = 0


def function_topics(all_topics: Iterable[str], prefix: str, function: str) -> list[str]:
    """The topics of `function`: `<prefix>.<function>.*`, the entry topic first."""
    head = f"{prefix}.{function}."
    mine = sorted(t for t in all_topics if t.startswith(head))
    entry = f"{head}in"
    return sorted(mine, key=lambda t: (t != entry, t))


def step_of(topic: str, prefix: str, function: str) -> str:
    head = f"{prefix}.{function}."
    if not topic.startswith(head):
        return topic  # a queue topic: its own name
    name = topic[len(head) :]
    # a gateway's reply topic (`in.replies.<id>`), or the test harness's (`replies`)
    return "reply" if name.startswith("in.replies.") or name == "replies" else name


def matches(request_id: bytes, key: bytes | None, headers: Iterable[tuple[str, bytes]]) -> bool:
    """Whether a record belongs to the request: its key, `sg-id`, the caller's X-Request-Id,
    or a batch's member list names it."""
    if key == request_id:
        return True
    for name, raw in headers:
        if name == H_ID or name.lower() == REQUEST_ID_HEADER:
            if raw == request_id:
                return True
        elif name == H_MEMBERS and request_id in raw:
            try:
                if any(m and m[0] == request_id.decode() for m in orjson.loads(raw)):
                    return True
            except (orjson.JSONDecodeError, TypeError, IndexError, UnicodeDecodeError):
                pass
    return False


async def scan(
    brokers: str,
    prefix: str,
    function: str,
    request_id: str,
    extra_topics: Iterable[str] = (),
    since_ms: int | None = None,
    progress: Progress | None = None,
    connect_timeout: float = 30.0,
    *,
    security: KafkaSecurity,
) -> Scan:
    """Every record of `request_id` on `function`'s topics (and `extra_topics`), in order.
    A broker that cannot be reached (within `connect_timeout` seconds) is a StreamgraphError."""
    try:
        return await _scan(
            brokers,
            prefix,
            function,
            request_id,
            extra_topics,
            since_ms,
            progress,
            connect_timeout,
            security,
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise StreamgraphError(f"could not read from Kafka at {brokers}: {exc!r}") from exc


async def _scan(
    brokers: str,
    prefix: str,
    function: str,
    request_id: str,
    extra_topics: Iterable[str],
    since_ms: int | None,
    progress: Progress | None,
    connect_timeout: float,
    security: KafkaSecurity,
) -> Scan:
    partitions = await asyncio.wait_for(_partitions(brokers, security), connect_timeout)
    topics = function_topics(partitions, prefix, function)
    topics += [t for t in extra_topics if t in partitions and t not in topics]
    result = Scan(topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=brokers, enable_auto_commit=False, **security.aiokafka_args()
    )
    await asyncio.wait_for(consumer.start(), connect_timeout)
    try:
        steps = {t: step_of(t, prefix, function) for t in topics}
        where = [TopicPartition(t, p) for t in topics for p in partitions[t]]
        if where:
            await _read(consumer, where, steps, request_id.encode(), since_ms, result, progress)
    finally:
        await consumer.stop()
    result.found = ordered(result.found)
    return result


async def _partitions(brokers: str, security: KafkaSecurity) -> dict[str, list[int]]:
    """Every topic and its partitions, from one full metadata fetch (which creates nothing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers, **security.aiokafka_args())
    try:
        await admin.start()
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return {t["topic"]: sorted(p["partition"] for p in t["partitions"]) for t in described}


async def _read(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    steps: dict[str, str],
    wanted: bytes,
    since_ms: int | None,
    result: Scan,
    progress: Progress | None,
) -> None:
    """Read every partition (all at once) up to its end offset as it is now."""
    consumer.assign(partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
    if since_ms is not None:
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        for tp in partitions:
            at = found.get(tp)
            starts[tp] = at.offset if at is not None else ends[tp]  # nothing that recent
    left = {tp for tp in partitions if starts[tp] < ends[tp]}
    for tp in partitions:
        consumer.seek(tp, starts[tp])
    total = sum(ends[tp] - starts[tp] for tp in left)
    reported = time.monotonic()
    while left:
        batches = await consumer.getmany(*left, timeout_ms=FETCH_MS)
        for tp, records in batches.items():
            for record in records:
                if record.offset >= ends[tp]:
                    break  # written after the scan began
                result.records_read += 1
                headers = list(record.headers or ())
                if matches(wanted, record.key, headers):
                    result.found.append(
                        Found(
                            tp.topic,
                            steps[tp.topic],
                            tp.partition,
                            record.offset,
                            record.timestamp,
                            record.key,
                            record.value,
                            headers,
                        )
                    )
        for tp in list(left):  # done when the read position reached the end taken at start
            if await consumer.position(tp) >= ends[tp]:
                left.discard(tp)
        if progress is not None and time.monotonic() - reported >= PROGRESS_EVERY:
            reported = time.monotonic()
            busiest = max(left, key=lambda tp: ends[tp] - starts[tp], default=None)
            where = f" ({busiest.topic} and {len(left) - 1} more partitions)" if busiest else ""
            progress(f"{result.records_read}/{total} records read{where}")


def ordered(found: list[Found]) -> list[Found]:
    """By time; records of the same millisecond by hops from the entry topic, which each
    record's `sg-source` (the step that sent it) gives."""
    first_at: dict[str, Found] = {}
    for record in sorted(found, key=lambda r: r.timestamp_ms):
        first_at.setdefault(record.step, record)

    def depth(record: Found, seen: frozenset[str] = frozenset()) -> int:
        source = record.header(H_SOURCE)
        parent = first_at.get(source) if source else None
        if parent is None or parent.step in seen or parent is record:
            return 0 if record.step == "in" or source is None else 1
        return depth(parent, seen | {record.step}) + 1

    for record in found:
        record.depth = depth(record)
    return sorted(found, key=lambda r: (r.timestamp_ms, r.depth, r.topic, r.offset))


def preview(record: Found, limit: int) -> str:
    """The body as text (JSON as it is on the wire), cut at `limit` characters."""
    value = record.value or b""
    if record.header(H_ENCODING) != "raw" or _printable(value):
        text = value.decode("utf-8", "replace")
    else:
        text = f"<{len(value)} bytes: {value[:32].hex()}{'...' if len(value) > 32 else ''}>"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _printable(value: bytes) -> bool:
    try:
        return value.decode().isprintable()
    except UnicodeDecodeError:
        return False


__all__ = ["Found", "Scan", "function_topics", "matches", "ordered", "preview", "scan"]
