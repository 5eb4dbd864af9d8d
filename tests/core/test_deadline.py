"""Deadlines: the caller's timeout, expiry, and a log that stays quiet under a burst."""

from __future__ import annotations

import logging

import pytest

from streamgraph.core.event import Event
from streamgraph.core.request_deadline import ExpiredLog, expired, request_timeout, set_deadline
from streamgraph.errors import BadRequestError


def test_the_caller_can_lower_the_timeout_never_raise_it() -> None:
    assert request_timeout(None, 30.0) == 30.0
    assert request_timeout({"X-Request-Timeout": "2.5"}, 30.0) == 2.5
    assert request_timeout({"x-request-timeout": "300"}, 30.0) == 30.0
    with pytest.raises(BadRequestError, match="X-Request-Timeout must be seconds"):
        request_timeout({"X-Request-Timeout": "2s"}, 30.0)
    with pytest.raises(BadRequestError, match="positive"):
        request_timeout({"X-Request-Timeout": "inf"}, 30.0)


def test_an_event_expires_at_its_deadline_and_copies_keep_it() -> None:
    event = Event({"x": 1})
    assert not expired(event)
    set_deadline(event, 60.0)
    assert not expired(event) and not expired(event.copy())
    set_deadline(event, -0.001)
    assert expired(event) and expired(event.branch())


def test_a_burst_of_drops_is_counted_in_full_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = ExpiredLog(logging.getLogger("test.expired"))
    event = Event(None, "e1")
    set_deadline(event, -1.0)
    with caplog.at_level(logging.WARNING, logger="test.expired"):
        for _ in range(500):
            log.note("step", event)
    assert log.counts == {"step": 500} and log.total == 500
    assert len(caplog.records) == 1
    assert "dropped 1 event(s) past their deadline (last: e1 before step step" in caplog.text
