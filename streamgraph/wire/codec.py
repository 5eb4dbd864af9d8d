"""The event on Kafka: key = event id, value = the body, `sg-` headers for the rest.

A record written by any client with no headers at all is a valid event (a direct producer):
its value is read like an HTTP body with no content type. A record that cannot be read raises
`RecordError`, and the worker sends it to the dead-letter topic with the reason.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from ..core.content import decode_body
from ..core.event import Event
from ..errors import StreamgraphError

H_ID = "sg-id"
H_PATH = "sg-path"
H_METHOD = "sg-method"
H_CONTENT_TYPE = "sg-content-type"
H_ENCODING = "sg-encoding"  # "json" (orjson value) or "raw" (bytes as sent)
H_REPLY_TO = "sg-reply-to"
H_CORRELATION = "sg-correlation-id"
H_VISITS = "sg-visits"
H_SOURCE = "sg-source"
H_ORIGIN = "sg-origin"
H_ERROR = "sg-error"
H_STATUS = "sg-status"
H_CHUNK = "sg-chunk"
H_END = "sg-end"
H_STREAM_FROM = "sg-stream-from"
H_TIMESTAMP = "sg-ts"
H_MEMBERS = "sg-members"
H_WORKER = "sg-worker"
H_ORIGIN_TOPIC = "sg-origin-topic"
# epoch milliseconds (as Kafka's timestamps) after which no step runs for the event
H_DEADLINE = "sg-deadline"
# the W3C trace context, under its standard name: OpenTelemetry's Kafka instrumentations (and
# a direct producer's own) read and write the same header
H_TRACEPARENT = "traceparent"

# which worker process wrote a record (for operators, and for scale-out checks)
_WORKER = f"{socket.gethostname()}:{os.getpid()}".encode()

Headers = list[tuple[str, bytes]]


# HTTP headers a step may need beyond `x-*`: the OIP binary extension's JSON length
_TRAVELLING = frozenset({"inference-header-content-length"})


def travels(name: str) -> bool:
    """Whether an HTTP header goes along with the event (`x-*` and a few protocol headers)."""
    lower = name.lower()
    return lower.startswith("x-") or lower in _TRAVELLING


class RecordError(StreamgraphError, ValueError):
    """A record that cannot be read as an event (bad headers, bad JSON)."""


class KafkaReply:
    """Where a synchronous caller waits: its reply topic and correlation id."""

    __slots__ = ("correlation_id", "topic")

    def __init__(self, topic: str, correlation_id: str) -> None:
        self.topic = topic
        self.correlation_id = correlation_id

    def __repr__(self) -> str:
        return f"KafkaReply({self.topic!r}, {self.correlation_id!r})"


def encode_value(body: Any) -> tuple[bytes, str]:
    """(value bytes, encoding): bytes travel raw, everything else as orjson."""
    if isinstance(body, bytes | bytearray):
        return bytes(body), "raw"
    try:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), "json"
    except TypeError as exc:
        raise StreamgraphError(f"the event body cannot be sent to Kafka as JSON: {exc}") from exc


# headers whose value is one of a few: made once, not per record
_ENCODING_HEADERS = {"json": (H_ENCODING, b"json"), "raw": (H_ENCODING, b"raw")}
_WORKER_HEADER = (H_WORKER, _WORKER)


def encode(event: Event, status: int | None = None) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) for an event."""
    value, encoding = encode_value(event.body)
    key = event.id.encode()
    headers: Headers = [
        (H_ID, key),
        (H_PATH, event.path.encode()),
        (H_METHOD, event.method.encode()),
        _ENCODING_HEADERS[encoding],
    ]
    if event.content_type:
        headers.append((H_CONTENT_TYPE, event.content_type.encode()))
    reply = event.reply
    if isinstance(reply, KafkaReply):
        headers.append((H_REPLY_TO, reply.topic.encode()))
        headers.append((H_CORRELATION, reply.correlation_id.encode()))
    if event.visits:
        headers.append((H_VISITS, orjson.dumps(event.visits)))
    if event.source:
        headers.append((H_SOURCE, event.source.encode()))
    if event.origin_state:
        headers.append((H_ORIGIN, event.origin_state.encode()))
    if event.error:
        headers.append((H_ERROR, event.error.encode()))
    if status is not None:
        headers.append((H_STATUS, str(status).encode()))
    if event.chunk is not None:
        headers.append((H_CHUNK, str(event.chunk).encode()))
    if event.end_of_stream:
        headers.append((H_END, b"1"))
    if event.stream_from:
        headers.append((H_STREAM_FROM, event.stream_from.encode()))
    if event.members is not None:
        headers.append((H_MEMBERS, orjson.dumps([_member(m) for m in event.members])))
    if event.deadline is not None:
        # (integer milliseconds: a float's repr costs twice as much, on every record)
        headers.append((H_DEADLINE, str(int(event.deadline * 1000)).encode()))
    if event.trace is not None:
        headers.append((H_TRACEPARENT, event.trace.encode()))
    carried = event.headers
    stamp = carried.get(H_TIMESTAMP) if carried else None
    headers.append((H_TIMESTAMP, (stamp or str(time.time())).encode()))
    headers.append(_WORKER_HEADER)
    if carried and (stamp is None or len(carried) > 1):  # (more than the stamp to look at)
        for name, text in carried.items():
            if travels(name):
                # str(): aiohttp's header names are `istr`, which aiokafka's C encoder refuses
                headers.append((str(name), text.encode()))
    return key, value, headers


def _member(event: Event) -> list[str | None]:
    reply = event.reply if isinstance(event.reply, KafkaReply) else None
    return [event.id, reply.topic if reply else None, reply.correlation_id if reply else None]


# headers that (nearly) every record carries; any other `sg-` header takes the slower path
_COMMON = frozenset(
    {
        H_ID,
        H_PATH,
        H_METHOD,
        H_ENCODING,
        H_CONTENT_TYPE,
        H_TIMESTAMP,
        H_WORKER,
        H_SOURCE,
        H_DEADLINE,
    }
)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)


def decode(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None
) -> Event:
    """The event a record carries; raises `RecordError` when it cannot be read."""
    found: dict[str, str] = {}
    passthrough: dict[str, str] | None = None
    trace: str | None = None
    rare = False
    try:
        for name, raw in headers or ():
            if name in _COMMON:  # (the common headers first: one lookup, no startswith)
                found[name] = raw.decode() if type(raw) is bytes else _text(raw)
            elif name.startswith("sg-"):
                found[name] = raw.decode() if type(raw) is bytes else _text(raw)
                rare = True
            elif name == H_TRACEPARENT:
                trace = _text(raw)
            elif travels(name):
                if passthrough is None:
                    passthrough = {}
                passthrough[name] = _text(raw)
    except (UnicodeDecodeError, AttributeError) as exc:
        raise RecordError(f"bad record headers: {exc}") from None
    content_type = found.get(H_CONTENT_TYPE)
    encoding = found.get(H_ENCODING)
    raw_value = value if value is not None else b""
    try:
        if encoding == "json":
            body: Any = orjson.loads(raw_value) if raw_value else None
        elif encoding == "raw":
            body = raw_value
        elif encoding is None:
            body = decode_body(raw_value, content_type) if raw_value else None
        else:
            raise RecordError(f"bad record headers: unknown {H_ENCODING} {encoding!r}")
    except (orjson.JSONDecodeError, ValueError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"undecodable record value: {exc}") from None
    event_id = found.get(H_ID) or (key.decode("utf-8", "replace") if key else None)
    event = Event(body, event_id, found.get(H_PATH, "/"), found.get(H_METHOD, "POST"), passthrough)
    event.content_type = content_type
    stamp = found.get(H_TIMESTAMP)
    if stamp is not None:
        event.headers[H_TIMESTAMP] = stamp
    event.source = found.get(H_SOURCE)
    event.trace = trace
    deadline = found.get(H_DEADLINE)
    if deadline is not None:
        try:
            event.deadline = int(deadline) / 1000
        except ValueError:
            raise RecordError(f"bad record headers: {H_DEADLINE} {deadline!r}") from None
    if rare:
        _decode_rare(found, event)
    return event


def _decode_rare(found: dict[str, str], event: Event) -> None:
    """The headers of replies, loops, errors, streams and batches."""
    try:
        if H_REPLY_TO in found:
            event.reply = KafkaReply(found[H_REPLY_TO], found.get(H_CORRELATION, event.id))
        if H_VISITS in found:
            visits = orjson.loads(found[H_VISITS])
            if not isinstance(visits, dict):
                raise RecordError(f"bad record headers: {H_VISITS} is not an object")
            event.visits = {str(k): int(v) for k, v in visits.items()}
        event.origin_state = found.get(H_ORIGIN)
        event.error = found.get(H_ERROR)
        if H_CHUNK in found:
            event.chunk = int(found[H_CHUNK])
        event.end_of_stream = found.get(H_END) == "1"
        event.stream_from = found.get(H_STREAM_FROM)
        if H_MEMBERS in found:
            event.members = [_member_event(m, event) for m in orjson.loads(found[H_MEMBERS])]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"bad record headers: {exc}") from None


def _member_event(data: Iterable[Any], batch: Event) -> Event:
    event_id, topic, correlation = list(data)
    member = Event(None, str(event_id), batch.path, batch.method)
    if topic:
        member.reply = KafkaReply(str(topic), str(correlation or event_id))
    return member


def status_of_record(headers: Sequence[tuple[str, bytes]] | None) -> int:
    for name, raw in headers or ():
        if name == H_STATUS:
            return int(raw)
    return 200
