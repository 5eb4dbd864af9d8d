"""The event on the wire: what `encode` writes, `decode` reads back, field for field."""

from __future__ import annotations

import pytest

from streamgraph.core.event import Event
from streamgraph.wire.codec import (
    H_TIMESTAMP,
    KafkaReply,
    RecordError,
    decode,
    encode,
)

FIELDS = ("id", "body", "path", "method", "content_type", "source", "origin_state", "error")
FIELDS += ("chunk", "end_of_stream", "stream_from", "visits")


def _full_event() -> Event:
    event = Event({"a": [1, 2]}, "ev-1", "/v2/models/m/infer", "PUT", content_type="text/x")
    event.headers = {"x-trace": "t1", "inference-header-content-length": "12", "other": "no"}
    event.reply = KafkaReply("sg.replies.abc", "corr-9")
    event.visits = {"gen": 2, "eval": 1}
    event.source, event.origin_state, event.error = "gen", "eval", "ValueError: bad"
    event.chunk, event.end_of_stream, event.stream_from = 3, True, "gen"
    member = Event(None, "m-1")
    member.reply = KafkaReply("sg.replies.m", "c-m")
    event.members = [member, Event(None, "m-2")]
    return event


def test_every_field_survives_the_round_trip() -> None:
    event = _full_event()
    back = decode(*encode(event))
    for field in FIELDS:
        assert getattr(back, field) == getattr(event, field), field
    assert isinstance(back.reply, KafkaReply)
    assert (back.reply.topic, back.reply.correlation_id) == ("sg.replies.abc", "corr-9")
    # x-* and protocol headers travel, others stay behind; the origin timestamp is added
    assert back.headers["x-trace"] == "t1"
    assert back.headers["inference-header-content-length"] == "12"
    assert "other" not in back.headers
    assert H_TIMESTAMP in back.headers
    assert [m.id for m in back.members or []] == ["m-1", "m-2"]
    replies = [(m.reply.topic, m.reply.correlation_id) if m.reply else None for m in back.members]
    assert replies == [("sg.replies.m", "c-m"), None]


def test_plain_event_round_trip_keeps_defaults() -> None:
    event = Event(b"\x00raw bytes", "ev-2")
    back = decode(*encode(event))
    assert (back.id, back.body, back.path, back.method) == ("ev-2", b"\x00raw bytes", "/", "POST")
    assert back.reply is None and back.visits is None and back.members is None
    assert (back.chunk, back.end_of_stream, back.source) == (None, False, None)
    # the timestamp is kept from hop to hop, not renewed
    assert decode(*encode(back)).headers[H_TIMESTAMP] == back.headers[H_TIMESTAMP]


def test_a_record_without_headers_reads_like_an_http_body() -> None:
    event = decode(b"key-1", b'{"n": 1}', None)
    assert (event.id, event.body, event.path, event.method) == ("key-1", {"n": 1}, "/", "POST")
    assert decode(None, b"not json", []).body == b"not json"


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([("sg-encoding", b"json")], b"{broken", "undecodable record value"),
        ([("sg-encoding", b"zip")], b"x", "unknown sg-encoding"),
        ([("sg-path", b"\xff\xfe")], b"x", "bad record headers"),
        ([("sg-encoding", b"raw"), ("sg-visits", b"[1]")], b"x", "not an object"),
        ([("sg-encoding", b"raw"), ("sg-chunk", b"three")], b"x", "bad record headers"),
    ],
)
def test_unreadable_records_are_refused_with_the_reason(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(RecordError, match=reason):
        decode(b"k", value, headers)
