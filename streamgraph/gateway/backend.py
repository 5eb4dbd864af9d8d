"""What answers the gateway's requests (`Backend`), and the app keys the handlers find it and
the settings under (`REQUESTER`, `SETTINGS`): shared by the routes of `server.py` and
`openai.py`."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from ..core.event import Event
from ..settings import Settings
from ..wire.requester import Answer


class Backend(Protocol):
    """What answers the gateway's requests: Kafka (`KafkaRequester`) or the in-process engine
    (`streamgraph.gateway.in_process_app.LocalBackend`); the HTTP surface is the same for both."""

    ready: bool
    waiting_for: str  # what keeps it from being ready (for /readyz's 503), "" when ready
    timeouts: int  # requests answered 504
    late_replies: int  # answers that came after their request timed out

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def request(self, event: Event, timeout: float) -> Answer: ...


REQUESTER = web.AppKey("requester", Backend)
SETTINGS = web.AppKey("settings", Settings)


__all__ = ["REQUESTER", "SETTINGS", "Backend"]
