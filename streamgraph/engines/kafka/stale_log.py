"""Logging the stale events a stream skips after a rebalance, at most once a second."""

from __future__ import annotations

import asyncio
import logging
import math

__all__ = ["StaleLog"]

logger = logging.getLogger("streamgraph.kafka")

STALE_LOG_INTERVAL = 1.0  # seconds: at most one line per stream this often


class StaleLog:
    """The stale events a stream skipped, logged at INFO at most once per `interval` seconds:
    a rebalance can leave thousands queued, and a line each would flood the log. Counts arrive
    once per batch (`add`); a count within `interval` of the last line waits for a timer, so
    none is lost, and `close` logs whatever is still pending when the stream stops."""

    __slots__ = ("_last_line_at", "_line_due", "_loop", "interval", "pending", "topics", "total")

    def __init__(self, topics: str, interval: float = STALE_LOG_INTERVAL) -> None:
        self.topics = topics
        self.interval = interval
        self.pending = 0  # skipped since the last line
        self.total = 0  # skipped in all
        self._loop = asyncio.get_running_loop()
        self._last_line_at = -math.inf  # loop time of the last line
        self._line_due: asyncio.TimerHandle | None = None

    def add(self, skipped: int) -> None:
        """`skipped` more stale events (one batch's): logged now, or when `interval` is up."""
        self.pending += skipped
        self.total += skipped
        if self._line_due is not None:
            return  # a line is due already: it will say these too
        wait = self._last_line_at + self.interval - self._loop.time()
        if wait <= 0:
            self._log()
        else:
            self._line_due = self._loop.call_later(wait, self._log)

    def close(self) -> None:
        """The stream stops: log what is pending now (the last line of this stream)."""
        if self._line_due is not None:
            self._line_due.cancel()
        self._log()

    def _log(self) -> None:
        self._line_due = None
        if self.pending:
            logger.info(
                "skipped %d stale events of %s, read before a rebalance (or during one): not "
                "processed here; the partition's owner reads them again from its committed "
                "offset",
                self.pending,
                self.topics,
            )
            self.pending = 0
            self._last_line_at = self._loop.time()
