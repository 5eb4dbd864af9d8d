"""Token callables named by STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER in the connection tests."""

from __future__ import annotations

TOKEN = "oauth-t0ken"


def token() -> str:
    return TOKEN


async def async_token() -> str:
    return TOKEN + "-async"
