"""Wait until the brokers' metadata lists topics just created.

A created topic reaches the brokers' metadata a moment after the create request returns (KRaft
propagates it). A consumer group whose leader computes the assignment inside that moment leaves
the topic out ("Ignoring missing topic") and does not look again until its metadata grows stale,
five minutes later: a worker would start without some of its partitions. Waiting here, before
the consumer subscribes, closes that window.

The wait sends its own metadata requests rather than tracking the topics in aiokafka's cluster
view: those would ask the broker to auto-create a missing topic (with the broker's default
partitions) and log every answer still without it at ERROR, though inside the window that is
expected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaClient
from aiokafka import errors as aioerrors
from aiokafka.protocol.metadata import MetadataRequest

from ..connection.kafka_security import KafkaSecurity

__all__ = ["wait_until_visible"]

#: between two metadata requests while a topic is still missing
POLL_SECONDS = 0.05


async def wait_until_visible(
    brokers: str, topics: Iterable[str], *, security: KafkaSecurity, timeout: float = 30.0
) -> None:
    """Return once a metadata request lists every topic of `topics` with its partitions;
    TimeoutError naming the missing ones after `timeout` seconds; aiokafka's
    TopicAuthorizationFailedError at once for a topic the client may not describe."""
    wanted = sorted(set(topics))
    if not wanted:
        return
    client = AIOKafkaClient(
        bootstrap_servers=brokers, client_id="streamgraph", **security.aiokafka_args()
    )
    deadline = time.monotonic() + timeout
    try:
        await client.bootstrap()
        while True:
            missing = await _missing(client, wanted)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"topics {', '.join(missing)} were created but not in the metadata of "
                    f"{brokers} within {timeout:.0f} s"
                )
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await client.close()


async def _missing(client: AIOKafkaClient, wanted: list[str]) -> list[str]:
    """The topics of `wanted` one broker's metadata lacks (or lists with no partition yet)."""
    request = MetadataRequest(wanted, allow_auto_topic_creation=False)
    response = await client.send(client.get_random_node(), request)
    present = set()
    for topic in response.topics:
        error_code, name, partitions = topic[0], topic[1], topic[-1]
        if aioerrors.for_code(error_code) is aioerrors.TopicAuthorizationFailedError:
            raise aioerrors.TopicAuthorizationFailedError(name)
        if error_code == 0 and partitions:
            present.add(name)
    return [name for name in wanted if name not in present]
