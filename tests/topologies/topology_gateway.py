"""A topology's agents on the real broker with the HTTP gateway in front (aiohttp TestServer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

import streamgraph as sg
from streamgraph.gateway import gateway_app
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
