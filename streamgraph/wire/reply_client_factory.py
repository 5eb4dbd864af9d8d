"""The `ReplyClient` a setting names (STREAMGRAPH_GATEWAY_KAFKA_CLIENT): `make_client`.

Apart from `reply_client.py`, the protocol both clients import: the factory imports the
clients, so the protocol module cannot hold it.
"""

from __future__ import annotations

from ..connection.kafka_security import KafkaSecurity
from .reply_client import CLIENT_NAMES, ClientName, ReplyClient


def make_client(
    name: ClientName,
    brokers: str,
    linger_ms: int,
    max_request_bytes: int,
    send_timeout: float,
    security: KafkaSecurity,
) -> ReplyClient:
    """The client called `name`; `send_timeout` bounds how long the broker may take to take a
    record before its delivery fails. Each client's Kafka library is imported when chosen."""
    if name == "confluent":
        from .confluent_client import ConfluentClient

        return ConfluentClient(brokers, linger_ms, max_request_bytes, send_timeout, security)
    if name == "aiokafka":
        from .aiokafka_client import AiokafkaClient

        return AiokafkaClient(brokers, linger_ms, max_request_bytes, send_timeout, security)
    raise ValueError(f"unknown Kafka client {name!r}: expected one of {CLIENT_NAMES}")


__all__ = ["make_client"]
