"""Wait until the brokers' metadata lists topics just created.

A created topic reaches the brokers' metadata a moment after the create request returns (KRaft
propagates it). A consumer group whose leader computes the assignment inside that moment leaves
the topic out ("Ignoring missing topic") and does not look again until its metadata grows stale,
five minutes later: a worker would start without some of its partitions. Waiting here, before
the consumer subscribes, closes that window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaClient

from ..connection.kafka_security import KafkaSecurity

__all__ = ["wait_until_visible"]

#: between two metadata requests while a topic is still missing
POLL_SECONDS = 0.05


async def wait_until_visible(
    brokers: str, topics: Iterable[str], *, security: KafkaSecurity, timeout: float = 30.0
) -> None:
    """Return once a metadata request lists every topic of `topics` with its partitions;
    TimeoutError naming the missing ones after `timeout` seconds."""
    wanted = set(topics)
    if not wanted:
        return
    client = AIOKafkaClient(
        bootstrap_servers=brokers, client_id="streamgraph", **security.aiokafka_args()
    )
    deadline = time.monotonic() + timeout
    try:
        await client.bootstrap()
        await client.set_topics(wanted)  # metadata of these topics only, never of all
        while True:
            missing = sorted(t for t in wanted if not client.cluster.partitions_for_topic(t))
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"topics {', '.join(missing)} were created but not in the metadata of "
                    f"{brokers} within {timeout:.0f} s"
                )
            await asyncio.sleep(POLL_SECONDS)
            await client.force_metadata_update()
    finally:
        await client.close()
