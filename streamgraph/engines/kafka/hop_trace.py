"""The Kafka hop in a trace: how long a record waited in its topic before a worker took it.

The span runs from the record's timestamp (set by the producer when it sent the record) to the
moment the agent takes it, as a child of the span that sent it; the step's own span follows as
its child (`core.tracing`, `core.outcome`).
"""

from __future__ import annotations

import time
from typing import Any

from ...core import tracing
from ...core.event import Event

__all__ = ["queue_span"]


def queue_span(event: Event, message: Any) -> None:
    """The queue-wait span of `message` (tracing on); `event` becomes its child."""
    sent_at = message.timestamp or time.time()  # Faust gives the record's timestamp in seconds
    tracing.hop_span(
        f"queue {message.topic}",
        event,
        sent_at,
        {
            "messaging.system": "kafka",
            "messaging.destination.name": message.topic,
            "messaging.kafka.destination.partition": message.partition,
            "messaging.kafka.message.offset": message.offset,
        },
    )
