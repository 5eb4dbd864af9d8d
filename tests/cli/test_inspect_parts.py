"""The parts of `streamgraph inspect` that need no broker: --since, matching, order, preview."""

from __future__ import annotations

import click
import orjson
import pytest

from streamgraph.commands.inspect_request import since_ms
from streamgraph.engines.kafka.request_scan import (
    Found,
    function_topics,
    matches,
    ordered,
    preview,
    step_of,
)


def test_since_takes_durations_and_iso_times() -> None:
    now = 1_000_000.0
    assert since_ms("90s", now) == (now - 90) * 1000
    assert since_ms("10m", now) == (now - 600) * 1000
    assert since_ms("2h", now) == (now - 7200) * 1000
    assert since_ms("1d", now) == (now - 86400) * 1000
    assert since_ms("2026-01-02T03:04:05+00:00") == 1767323045000
    assert since_ms(None) is None
    with pytest.raises(click.BadParameter, match="neither a duration"):
        since_ms("yesterday")


def test_a_record_matches_by_key_id_header_caller_id_or_batch_member() -> None:
    rid = b"abc-1"
    assert matches(rid, b"abc-1", [])
    assert matches(rid, None, [("sg-id", b"abc-1")])
    assert matches(rid, b"other", [("X-Request-Id", b"abc-1")])
    members = orjson.dumps([["zzz", None, None], ["abc-1", "t.replies", "c1"]])
    assert matches(rid, b"batch-9", [("sg-members", members)])
    assert not matches(rid, b"abc-10", [("sg-id", b"abc-10"), ("x-trace", b"abc-1")])
    near = orjson.dumps([["abc-10", None, None]])
    assert not matches(rid, b"batch-9", [("sg-members", near)])


def test_function_topics_and_their_steps() -> None:
    listed = [
        "sg.fn.b",
        "sg.fn.in",
        "sg.fn.a",
        "sg.fn2.in",
        "sg.fn-__assignor",
        "sg.fn.in.replies.x1",
    ]
    assert function_topics(listed, "sg", "fn") == [
        "sg.fn.in",
        "sg.fn.a",
        "sg.fn.b",
        "sg.fn.in.replies.x1",
    ]
    assert step_of("sg.fn.in.replies.x1", "sg", "fn") == "reply"
    assert step_of("sg.fn.a", "sg", "fn") == "a"
    assert step_of("my-queue", "sg", "fn") == "my-queue"


def _record(step: str, ms: int, source: str | None, offset: int = 0) -> Found:
    headers = [("sg-id", b"r")] + ([("sg-source", source.encode())] if source else [])
    return Found(f"sg.fn.{step}", step, 0, offset, ms, b"r", b"{}", headers)


def test_records_of_one_millisecond_are_ordered_by_the_steps_that_sent_them() -> None:
    # in -> (a reads in) -> b -> c, all written in the same millisecond, listed backwards
    found = [_record("c", 5, "b"), _record("b", 5, "a"), _record("in", 5, None)]
    assert [r.step for r in ordered(found)] == ["in", "b", "c"]
    # time first: a later record comes later whatever its depth
    found = [_record("in", 9, None), _record("b", 5, "a")]
    assert [r.step for r in ordered(found)] == ["b", "in"]


def test_preview_cuts_long_bodies_and_shows_binary_as_hex() -> None:
    long = _record("in", 1, None)
    long.value = orjson.dumps({"x": "y" * 300})
    text = preview(long, 20)
    assert text.startswith('{"x":"yyyyyyyyyyyyyy') and text.endswith("(308 chars)")
    raw = _record("in", 1, None)
    raw.value, raw.headers = bytes(range(40)), [("sg-encoding", b"raw")]
    assert preview(raw, 200) == f"<40 bytes: {bytes(range(32)).hex()}...>"
