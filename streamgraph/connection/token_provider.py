"""The OAuth token of OAUTHBEARER (`kafka_oauth_token_provider`), for each client library.

The user names a `module:callable` returning a token string, or a coroutine of one (MSK IAM's
aws-msk-iam-sasl-signer, a Confluent OAuth client). aiokafka asks an AbstractTokenProvider on
its loop; librdkafka calls `oauth_cb` on its own thread and wants the token with its expiry.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka.abc import AbstractTokenProvider

from ..errors import KafkaSecurityError

__all__ = ["CallableTokenProvider", "load_token_source", "oauth_cb", "token_provider"]

SETTING = "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER"
# librdkafka refreshes at 80% of a token's lifetime; a token that says nothing of its expiry
# (not a JWT) is taken again after this
DEFAULT_LIFETIME_SECONDS = 300.0


def load_token_source(spec: str) -> Callable[[], Any]:
    """The callable `module:callable` names; refused by the setting's name when it is not."""
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise KafkaSecurityError(f"{SETTING} is {spec!r}: expected module:callable")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise KafkaSecurityError(f"{SETTING}: {spec!r} cannot be loaded ({exc})") from None
    if not callable(found):
        raise KafkaSecurityError(f"{SETTING}: {spec!r} is not callable")
    return found


class CallableTokenProvider(AbstractTokenProvider):
    """aiokafka's token provider over the user's callable (sync or async)."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source

    async def token(self) -> str:
        value = self.source()
        if inspect.isawaitable(value):
            value = await value
        return str(value)

    def __repr__(self) -> str:  # (never the token)
        return f"CallableTokenProvider({getattr(self.source, '__qualname__', self.source)!r})"


def token_provider(source: Callable[[], Any]) -> CallableTokenProvider:
    return CallableTokenProvider(source)


def _expiry(token: str) -> float:
    """The token's `exp` when it is a JWT, else DEFAULT_LIFETIME_SECONDS from now."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return time.time() + DEFAULT_LIFETIME_SECONDS


def _call(source: Callable[[], Any]) -> str:
    value = source()
    if not inspect.isawaitable(value):
        return str(value)
    # librdkafka's thread may be one with a running loop (poll on the gateway's loop): the
    # coroutine gets a loop of its own on a thread of its own
    result: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        async def awaited() -> Any:
            return await value

        try:
            result.append(str(asyncio.run(awaited())))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    runner = threading.Thread(target=run, name="sg-oauth-token")
    runner.start()
    runner.join()
    if failure:
        raise failure[0]
    return result[0]


def oauth_cb(source: Callable[[], Any]) -> Callable[[str | None], tuple[str, float]]:
    """confluent-kafka's `oauth_cb`: (token, expiry in epoch seconds)."""

    def callback(_config: str | None) -> tuple[str, float]:
        token = _call(source)
        return token, _expiry(token)

    return callback
