"""The HTTP gateway: `server.py` (aiohttp routes) over `requester.py` (Kafka request/reply)."""

from ..wire.requester import Answer, KafkaRequester
from .server import gateway_app, make_app

__all__ = ["Answer", "KafkaRequester", "gateway_app", "make_app"]
