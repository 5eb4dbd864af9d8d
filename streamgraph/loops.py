"""The event loop of streamgraph's processes: uvloop when installed, else asyncio's own.

Workers, model workers and gateways spend much of their time in loop turns and socket I/O,
which uvloop does for less. Measured here (A/B on one warm broker): a plain aiohttp server
gains ~30% requests/s; the worker and the gateway in front of it gain little, within this
machine's noise (their time goes to Faust's consumer thread and aiokafka's Python code).
STREAMGRAPH_UVLOOP=false keeps asyncio's loop.
"""

from __future__ import annotations

import asyncio

from .settings import Settings

__all__ = ["use_uvloop"]


def use_uvloop(settings: Settings | None = None) -> bool:
    """Make new event loops uvloop's; True when they will be. Call before any loop exists.

    (faust-streaming 0.15 accepts `--loop uvloop` but never acts on it; a Faust worker's
    consumer thread creates its loop through the same policy, so it gets uvloop too.)
    """
    if not (settings or Settings()).uvloop:
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
