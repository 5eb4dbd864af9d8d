"""A worker process that was asked to stop ends within its stop deadline, broker or not.

Faust's stop waits for unacked inputs, commits and leaves the group; with the broker gone that
takes about a minute. Exiting early loses nothing: what was not committed is redelivered to the
next worker. The deadline is watched from a daemon thread through the app's public
`should_stop`, so it works the same on streamgraph's lean app and on a stock `faust.App`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

__all__ = ["watch_stop_deadline"]

#: how often the watcher looks whether the app began to stop (a stop starts its clock this late)
POLL_SECONDS = 0.25


def watch_stop_deadline(app: Any, seconds: float) -> threading.Thread:
    """End this process `seconds` after `app` began to stop (or crashed), unless it ended.

    Only worker processes call this: an app inside a test process must never exit it.
    """

    def watch() -> None:
        while not app.should_stop:
            time.sleep(POLL_SECONDS)
        time.sleep(seconds)
        logging.getLogger("streamgraph.kafka").warning(
            "the worker did not stop within %.0f s (is the broker reachable?); exiting now, "
            "inputs not yet committed will be redelivered",
            seconds,
        )
        logging.shutdown()
        os._exit(1)

    thread = threading.Thread(target=watch, name="sg-stop-deadline", daemon=True)
    thread.start()
    return thread
