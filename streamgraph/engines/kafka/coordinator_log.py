"""A fresh broker's group coordinator election, logged as the wait it is, not as an error.

While a new broker elects the coordinator of a consumer group, aiokafka logs
`[ERROR] Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError` on
every retry: harmless, and alarming to a new user. This filter on aiokafka's logger turns the
first such record of a minute into one INFO line, "waiting for the group coordinator", and drops
the rest; every other error of that logger stays an ERROR.
"""

from __future__ import annotations

import logging
import time

from aiokafka.errors import GroupCoordinatorNotAvailableError

LOGGER = "aiokafka.consumer.group_coordinator"
AIOKAFKA_MESSAGE = "Group Coordinator Request failed: %s"  # aiokafka 0.14's text, fingerprinted
WAITING = "waiting for the group coordinator (the broker is electing it; retrying)"
QUIET_SECONDS = 60.0


class CoordinatorWaitFilter(logging.Filter):
    """One INFO line a minute for the coordinator's election; other records untouched."""

    def __init__(self) -> None:
        super().__init__()
        self._said_at: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != AIOKAFKA_MESSAGE or not record.args:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        if not isinstance(args[0], GroupCoordinatorNotAvailableError):
            return True
        now = time.monotonic()
        if self._said_at is not None and now - self._said_at < QUIET_SECONDS:
            return False
        self._said_at = now
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args = WAITING, ()
        return True


_installed = CoordinatorWaitFilter()


def quiet_coordinator_wait() -> None:
    """Install the filter on aiokafka's group coordinator logger (once; idempotent)."""
    logger = logging.getLogger(LOGGER)
    if _installed not in logger.filters:
        logger.addFilter(_installed)


__all__ = ["CoordinatorWaitFilter", "quiet_coordinator_wait"]
