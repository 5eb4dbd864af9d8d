"""A process's private reply topic: created when it starts, deleted when it stops cleanly.

Gateways, `streamgraph send` and step workers that call model workers each read answers from a
topic of their own (a uuid in its name). Deleting it at a clean stop keeps the broker from
collecting one topic per process ever started; a killed process leaves its topic behind.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ..connection.kafka_failures import denied
from ..connection.kafka_security import KafkaSecurity

logger = logging.getLogger("streamgraph.kafka")

TOPIC_AUTHORIZATION_FAILED = 29  # Kafka's error code

__all__ = [
    "TOPIC_AUTHORIZATION_FAILED",
    "create_topic",
    "delete_reply_topic",
    "delete_topics_under",
]


async def create_topic(
    brokers: str,
    topic: str,
    partitions: int = 1,
    replication: int = 1,
    *,
    security: KafkaSecurity,
) -> None:
    """Create `topic` unless it exists; KafkaAccessError when the principal may not."""
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers, **security.aiokafka_args())
    try:  # start inside: a broker that is not up yet must not leave the admin's sockets open
        await admin.start()
        answer = await admin.create_topics([NewTopic(topic, partitions, replication)])
    except TopicAlreadyExistsError:
        return
    finally:
        await admin.close()
    # the admin client returns the broker's per-topic errors rather than raising them
    if any(error[1] == TOPIC_AUTHORIZATION_FAILED for error in answer.topic_errors):
        raise denied(brokers, security, f"topic {topic}")


async def delete_reply_topic(brokers: str, topic: str, *, security: KafkaSecurity) -> None:
    """Delete `topic`; a failure is logged, never raised (the process is stopping anyway)."""
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=brokers, **security.aiokafka_args())
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
    except (KafkaError, OSError) as exc:
        logger.warning("could not delete reply topic %s: %r", topic, exc)


async def delete_topics_under(brokers: str, prefix: str, *, security: KafkaSecurity) -> list[str]:
    """Delete every topic whose name starts with `prefix`; the names deleted.

    The test harness's servers name all their topics under a fresh prefix: deleting them when
    a server closes keeps a long test run's broker small (every client that asks for the
    metadata of all topics pays for each topic ever created, on the broker and in Python).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers, **security.aiokafka_args())
    try:
        await admin.start()
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
