"""A pytest plugin: shortly before pytest-timeout ends a stuck test (and with it the whole run),
print every unfinished asyncio task with the line it waits on, so a hang names its cause."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator

import pytest

LEAD = 10.0  # seconds before the test's timeout


def _dump_tasks(nodeid: str) -> None:
    out = sys.stderr
    out.write(f"\n===== asyncio tasks still running in {nodeid} =====\n")
    for obj in gc.get_objects():  # the stuck loop belongs to the main thread: no API reaches it
        if isinstance(obj, asyncio.Task) and not obj.done():
            out.write(f"--- {obj!r}\n")
            obj.print_stack(file=out)
    out.flush()


def _timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getoption("timeout", None) or item.config.getini("timeout") or 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    timeout = _timeout(item)
    timer = None
    if timeout > LEAD:
        timer = threading.Timer(timeout - LEAD, _dump_tasks, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
