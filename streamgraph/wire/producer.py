"""aiokafka producers that keep every topic they write to in their metadata.

aiokafka refreshes metadata only for the topics its client tracks (all topics while it tracks
none), and tracks a topic only when a send finds it missing from the metadata it has. A topic
first seen in an all-topics refresh is written to but never tracked; as soon as any other topic
is tracked (a reply topic created later, say), the next refresh leaves the untracked one out, and
records already queued for it wait for a partition leader the producer no longer looks for,
until the request timeout (20 minutes under Faust). Seen as events that got no answer, about one
worker start in 30 on a loaded machine: a cyclic graph's records to its loop topic were queued in
the same moment as the first record to the caller's new reply topic. Tracking every topic before
the first send to it closes that gap.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

__all__ = ["TrackingProducer", "track_topic"]


def track_topic(client: Any, topic: str) -> None:
    """Make the aiokafka `client` keep `topic` in every metadata refresh from now on.

    `add_topic` is public and idempotent: a topic not yet tracked schedules a refresh, which the
    send that follows waits for. Call it once per topic (callers keep a set).
    """
    client.add_topic(topic)


class TrackingProducer(AIOKafkaProducer):
    """`AIOKafkaProducer` whose sends track their topic first (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracked: set[str] = set()  # a producer's client never untracks a topic

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic not in self._tracked:
            self._tracked.add(topic)
            track_topic(self.client, topic)
        return await super().send(topic, *args, **kwargs)
