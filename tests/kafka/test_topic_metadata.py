"""Waiting for topics just created (streamgraph/wire/topic_metadata.py), on the session broker."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamgraph.connection.kafka_security import KafkaSecurity
from streamgraph.wire.topic_metadata import wait_until_visible

pytestmark = pytest.mark.kafka

OPEN = KafkaSecurity()


async def _create_later(brokers: str, name: str, delay: float) -> int:
    """The error code of creating `name` after `delay` seconds (0: created)."""
    await asyncio.sleep(delay)
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, 2, 1)])
        code: int = response.topic_errors[0][1]
        return code
    finally:
        await admin.close()


async def _topics(brokers: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        names: list[str] = await admin.list_topics()
        return names
    finally:
        await admin.close()


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_wait_returns_once_the_topic_exists_and_logs_no_error_meanwhile(
    kafka_broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The topic is missing for the first 0.5 s of the wait: aiokafka's cluster view would log
    each answer without it at ERROR (and ask the broker to auto-create it)."""
    brokers, name = kafka_broker.bootstrap_servers, f"visible-{uuid.uuid4().hex[:10]}"
    caplog.set_level(logging.INFO, logger="aiokafka")
    creating = asyncio.create_task(_create_later(brokers, name, 0.5))
    await wait_until_visible(brokers, [name], security=OPEN, timeout=20)
    assert await creating == 0  # created by the admin, not auto-created by the wait
    assert _errors(caplog) == []


async def test_a_topic_that_never_comes_times_out_naming_it_and_is_not_auto_created(
    kafka_broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The session broker auto-creates topics a metadata request names, unless it says not to."""
    brokers, name = kafka_broker.bootstrap_servers, f"never-{uuid.uuid4().hex[:10]}"
    caplog.set_level(logging.INFO, logger="aiokafka")
    with pytest.raises(TimeoutError, match=f"topics {name} were created but not in the metadata"):
        await wait_until_visible(brokers, [name], security=OPEN, timeout=0.5)
    assert _errors(caplog) == []
    assert name not in await _topics(brokers)
