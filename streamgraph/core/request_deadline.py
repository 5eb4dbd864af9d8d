"""Request deadlines: when a caller stops waiting, no step runs for its request any more.

A front end (the gateway, a test harness) sets `Event.deadline` (epoch seconds) to now plus the
request's timeout: its configured timeout, or less when the caller asks for less with
`X-Request-Timeout: <seconds>`. On Kafka the deadline travels in the `sg-deadline` header. Before
a step runs, `core.outcome` checks it; an event past its deadline becomes an `Expired` outcome,
which an engine drops (Kafka: acknowledged, not dead-lettered) and counts in `ExpiredLog`.

The deadline is wall-clock time, compared on whichever host takes the event: hosts' clocks must
agree (NTP) to well under a request timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from ..errors import BadRequestError
from .event import Event

__all__ = ["TIMEOUT_HEADER", "ExpiredLog", "expired", "request_timeout", "set_deadline"]

#: the caller's own timeout in seconds; it can lower the front end's timeout, never raise it
TIMEOUT_HEADER = "x-request-timeout"

#: at most one log line per this many seconds about expired events (a burst is one line)
LOG_EVERY = 1.0


def request_timeout(headers: Mapping[str, str] | None, limit: float) -> float:
    """The request's timeout: `limit`, or the caller's `X-Request-Timeout` when lower.

    A value that is not a positive number of seconds is the caller's error (400).
    """
    raw = _header(headers, TIMEOUT_HEADER) if headers else None
    if raw is None:
        return limit
    try:
        asked = float(raw)
    except ValueError:
        raise BadRequestError(f"X-Request-Timeout must be seconds, not {raw!r}") from None
    if not asked > 0 or asked == float("inf"):
        raise BadRequestError(f"X-Request-Timeout must be a positive number, not {raw!r}")
    return min(asked, limit)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, value in headers.items():  # a plain dict of any case (aiohttp's is case-blind)
        if key.lower() == name:
            return value
    return None


def set_deadline(event: Event, timeout: float) -> None:
    """The event's deadline: `timeout` seconds from now."""
    event.deadline = time.time() + timeout


def expired(event: Event) -> bool:
    """Whether `event` is past its deadline (an event with none never is)."""
    deadline = event.deadline
    return deadline is not None and time.time() >= deadline


class ExpiredLog:
    """Events dropped past their deadline: counted per step, logged at most once a second."""

    def __init__(self, logger: logging.Logger) -> None:
        self.counts: dict[str, int] = {}
        self._logger = logger
        self._logged_at = -LOG_EVERY
        self._unlogged = 0

    def note(self, step: str, event: Event) -> None:
        self.counts[step] = self.counts.get(step, 0) + 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            late = time.time() - (event.deadline or 0.0)
            self._logger.warning(
                "dropped %d event(s) past their deadline (last: %s before step %s, %.3f s late)",
                self._unlogged,
                event.id,
                step,
                late,
            )
            self._logged_at, self._unlogged = now, 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())
