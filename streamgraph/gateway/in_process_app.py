"""The gateway's HTTP surface over the in-process engine (`streamgraph run --local`).

Same routes, JSON errors, health endpoints and chunked streaming as the Kafka gateway: only the
backend differs. Each request's event goes straight into a `LocalServer` (the mock server)
instead of onto the entry topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..core.event import Event
from ..errors import GatewayTimeoutError
from ..settings import Settings
from ..wire.requester import Answer
from .server import make_app


class LocalBackend:
    """Answers gateway requests with a function's graph run in this process."""

    def __init__(self, server: Any) -> None:
        self.server = server  # a LocalServer (`fn.to_mock_server()`)
        self.ready = False
        self.waiting_for = "the in-process graph is not started yet"
        self.timeouts = 0
        self.late_replies = 0  # an in-process answer is never late: it is awaited or cancelled

    async def start(self) -> None:
        self.ready, self.waiting_for = True, ""

    async def stop(self) -> None:
        self.ready, self.waiting_for = False, "the gateway is stopping"
        # the graph's loop thread is joined here, off the serving loop
        await asyncio.get_running_loop().run_in_executor(None, self.server.wait_for_completion)

    async def request(self, event: Event, timeout: float) -> Answer:
        try:
            response = await asyncio.wait_for(self.server.serve_event(event), timeout)
        except TimeoutError:
            self.timeouts += 1
            raise GatewayTimeoutError(
                f"no answer within {timeout:g} s for event {event.id}"
            ) from None
        if isinstance(response.body, AsyncIterator):
            return Answer(200, chunks=response.body)
        return Answer(response.status_code, response.body)


def local_gateway_app(function: Any, settings: Settings | None = None) -> web.Application:
    """An aiohttp app serving `function` in process with the Kafka gateway's HTTP surface."""
    server = function.to_mock_server(namespace={})  # {}: only the function's own names
    return make_app(
        LocalBackend(server), settings or Settings(), function.name, function.spec.openai_frontend
    )


__all__ = ["LocalBackend", "local_gateway_app"]
