"""The Kafka client under a requester: send request records, receive the reply topic's records.

Two implementations: `AiokafkaClient` (pure-Python asyncio) and `ConfluentClient` (librdkafka,
its own threads). The requester needs only this much of either, so the two can be measured
against each other (bench/gateway.py --clients) and swapped by a setting
(STREAMGRAPH_GATEWAY_KAFKA_CLIENT; `reply_client_factory.make_client` builds the one it names).

What a send costs matters: it runs once per HTTP request. So only a failure goes through the
event loop (`Delivery.failed`); `Delivery.delivered` is a plain attribute write, safe from any
thread, that tells a request past its deadline whether the broker is slow to take records (503)
or the graph is slow to answer (504).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from ..errors import PayloadTooLargeError, ServiceUnavailableError

ClientName = Literal["aiokafka", "confluent"]
CLIENT_NAMES: tuple[ClientName, ...] = ("aiokafka", "confluent")

Headers = Sequence[tuple[str, bytes]]
# a reply record as the requester reads it: key, value, headers, timestamp (epoch ms, or None)
Record = tuple[bytes | None, bytes | None, Headers | None, int | None]
Deliver = Callable[[list[Record]], None]


class Delivery(Protocol):
    """Where a client reports what became of one sent record."""

    # True once no "not taken" verdict can still be pending: the broker acknowledged the record,
    # or (a client that reports failures only) its failure would come before the deadline
    delivered: bool

    def failed(self, exc: Exception) -> None:
        """The broker did not take the record; called on the event loop."""


class ReplyClient(Protocol):
    """A producer for requests and a group-less consumer of one reply topic."""

    async def start(self, reply_topic: str, deliver: Deliver) -> None:
        """Connect; from now on every batch of records written to `reply_topic` after this call
        returns is passed to `deliver`, on the event loop that called `start`."""

    async def stop(self) -> None:
        """Flush what was sent, stop reading, close the connections."""

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: Headers, delivery: Delivery
    ) -> None:
        """Queue one record (linger decides when it leaves); errors known at once are raised
        (`PayloadTooLargeError`, `ServiceUnavailableError`), later ones go to `delivery`."""

    async def topic_exists(self, topic: str) -> bool:
        """Whether `topic` exists, from a full metadata fetch (which never creates a topic)."""

    async def topics(self) -> dict[str, bool]:
        """Every topic of the cluster -> whether each of its partitions has a leader, from a
        full metadata fetch (which never creates a topic); raises when no broker answers."""

    def reading(self) -> bool:
        """Whether the reply partition is assigned, positioned, and its reader is running."""


def too_large(size: int, exc: object) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request is too large for the Kafka broker ({size} bytes): {exc!r}"
    )


def not_taken(exc: object) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"Kafka did not take the request: {exc!r}")


__all__ = [
    "CLIENT_NAMES",
    "ClientName",
    "Deliver",
    "Delivery",
    "Record",
    "ReplyClient",
    "not_taken",
    "too_large",
]
