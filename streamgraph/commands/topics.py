"""`streamgraph topics TOPOLOGY`: create a topology's topics on the broker and list them."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from ..errors import KafkaAccessError
from ..settings import Settings
from .common import brokers_option, connect, load, topology_argument


def kafka_graphs(function: Any, settings: Settings) -> list[Any]:
    """The compiled function and each child function, as their workers would run them."""
    from ..engines.kafka.app import KafkaGraph

    graphs = [KafkaGraph(function, settings)]
    for child in function.child_functions:
        graphs.append(KafkaGraph(function, settings, current_function=child))
    return graphs


async def create_topics(topics: list[str], settings: Settings) -> dict[str, int]:
    """Create the missing ones (the settings' partitions and replication); partitions of each.
    A topic the principal may not create is a KafkaAccessError naming it."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    from ..connection.kafka_failures import denied
    from ..connection.kafka_security import kafka_security
    from ..wire.reply_topics import TOPIC_AUTHORIZATION_FAILED

    security = kafka_security(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.brokers, **security.aiokafka_args())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        for topic in missing:  # one by one: an "already exists" race must not hide the others
            try:
                answer = await admin.create_topics(
                    [NewTopic(topic, settings.partitions, settings.replication)]
                )
            except TopicAlreadyExistsError:
                continue
            # the admin client returns the broker's per-topic errors rather than raising them
            if any(error[1] == TOPIC_AUTHORIZATION_FAILED for error in answer.topic_errors):
                raise denied(settings.brokers, security, f"topic {topic}")
        # a topic created a moment ago may show no partitions until its leaders are elected
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            described = await admin.describe_topics(topics)
            partitions = {d["topic"]: len(d.get("partitions") or []) for d in described}
            if (
                all(partitions.get(t) for t in topics)
                or asyncio.get_running_loop().time() > deadline
            ):
                return partitions
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@click.command()
@topology_argument
@brokers_option
def topics(topology: str, brokers: str | None) -> None:
    """Create TOPOLOGY's topics (entry, steps, queues, output, dead letters) and list them."""
    settings = connect(brokers)
    function = load(topology)
    names: list[str] = []
    for graph in kafka_graphs(function, settings):
        names.extend(t for t in graph.topology.all_topics() if t not in names)
    try:
        partitions = asyncio.run(create_topics(names, settings))
    except KafkaAccessError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        raise click.ClickException(f"Kafka at {settings.brokers}: {exc!r}") from exc
    for name in names:
        click.echo(f"{name}  ({partitions.get(name, 0)} partitions)")
    click.echo(f"{len(names)} topics of {function.name} on {settings.brokers}")


__all__ = ["create_topics", "kafka_graphs", "topics"]
