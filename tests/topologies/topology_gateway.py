"""A topology's agents on the real broker with the HTTP gateway in front (aiohttp TestServer)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.settings import Settings
from streamgraph.testing import serve


@asynccontextmanager
async def gateway_client(
    fn: sg.ServingFunction,
    kafka_broker: Any,
    namespace: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[TestClient]:
    """An HTTP client of a gateway whose requests `fn`'s agents answer on Kafka."""
    server = serve(
        fn, engine="kafka", brokers=kafka_broker.bootstrap_servers, namespace=namespace or {}
    )
    gateway_settings = server.settings.model_copy(update=settings)
    client = TestClient(TestServer(gateway_app(fn.name, gateway_settings)))
    try:
        await client.start_server()
        yield client
    finally:
        await client.close()
        server.close()


class GatewayThread:
    """A real gateway server on a free 127.0.0.1 port, run by its own loop in a thread."""

    def __init__(self, function_name: str, settings: Settings) -> None:
        self.app = gateway_app(function_name, settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self.runner = web.AppRunner(self.app)
        self.url = ""

    def __enter__(self) -> GatewayThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        return self

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
