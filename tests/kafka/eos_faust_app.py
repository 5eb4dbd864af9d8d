"""A plain two-step Faust app with processing_guarantee="exactly_once" (no streamgraph code).

It shows what Faust's own Kafka transactions do, so the test that uses it judges Faust and not
our engine: `step1` reads `<prefix>.eos.in` and writes `<prefix>.eos.mid`, `step2` reads `mid`
and writes `<prefix>.eos.out`, the way every streamgraph step hands its records on.

    faust -A eos_faust_app worker -l info --without-web
"""

from __future__ import annotations

import os
from typing import Any

import faust

PREFIX = os.environ.get("STREAMGRAPH_TOPIC_PREFIX", "sg")
PARTITIONS = int(os.environ.get("STREAMGRAPH_PARTITIONS", "4"))

app = faust.App(
    f"{PREFIX}.eos",
    broker=f"kafka://{os.environ.get('STREAMGRAPH_BROKERS', '127.0.0.1:9092')}",
    processing_guarantee="exactly_once",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=PARTITIONS,
    web_enabled=False,
    broker_session_timeout=10.0,
    broker_heartbeat_interval=1.0,
    broker_commit_every=50,
    broker_commit_interval=0.5,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(f"{PREFIX}.eos.in", internal=True, partitions=PARTITIONS)
middle = app.topic(f"{PREFIX}.eos.mid", internal=True, partitions=PARTITIONS)
sink = app.topic(f"{PREFIX}.eos.out", internal=True, partitions=PARTITIONS)


@app.agent(source)
async def step1(stream: Any) -> None:
    async for key, value in stream.items():
        await middle.send(key=key, value=value + b"|step1")


@app.agent(middle)
async def step2(stream: Any) -> None:
    async for key, value in stream.items():
        await sink.send(key=key, value=value + b"|step2")
