"""`streamgraph dlq replay`: send dead letters back to the topic of the step they failed in.

After a fix (new code, a model that loads again), the records in `<prefix>.<function>.dlq` go
back to their origin step's topic, without the error headers and the request's deadline. The
replay reads with its own consumer group and commits what it re-published, so running it twice
replays nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from ...settings import Settings
from ...wire.codec import H_DEADLINE, H_ERROR, H_ORIGIN, H_ORIGIN_TOPIC, H_STATUS
from ...wire.producer import TrackingProducer

logger = logging.getLogger("streamgraph.kafka.dlq")

# (the request's deadline too: a replay comes after it, and the worker would drop the record)
_DROPPED = {H_ERROR, H_ORIGIN, H_ORIGIN_TOPIC, H_STATUS, H_DEADLINE}


@dataclass
class ReplayReport:
    """What a replay did: records re-published per topic, and those it could not place."""

    replayed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


async def replay_dead_letters(
    function: str, settings: Settings, idle_seconds: float = 2.0
) -> ReplayReport:
    """Re-publish every dead letter of `function` not replayed before; stop when idle."""
    dlq = settings.topic(function, "dlq")
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=settings.brokers,
        group_id=f"{dlq}.replay",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = TrackingProducer(bootstrap_servers=settings.brokers, linger_ms=5)
    await consumer.start()
    await producer.start()
    report = ReplayReport()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_seconds * 1000), max_records=1000)
            if not batch:
                break
            deliveries = []
            for messages in batch.values():
                for message in messages:
                    headers = list(message.headers or ())
                    target = dict(headers).get(H_ORIGIN_TOPIC, b"").decode()
                    if not target:
                        report.skipped += 1  # written by an older worker: no origin topic
                        continue
                    kept = [(k, v) for k, v in headers if k not in _DROPPED]
                    deliveries.append(
                        await producer.send(target, message.value, key=message.key, headers=kept)
                    )
                    report.replayed[target] = report.replayed.get(target, 0) + 1
            await asyncio.gather(*deliveries)
            await consumer.commit()  # only after the broker took every re-published record
    finally:
        await consumer.stop()
        await producer.stop()
    logger.info(
        "replayed %d dead letters of %s (%d skipped)", report.total, function, report.skipped
    )
    return report
