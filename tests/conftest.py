"""Shared fixtures: every scenario test runs once per engine; Kafka tests share one broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamgraph import testing

pytest_plugins = ["streamgraph.broker.pytest_plugin", "task_dump"]


@pytest.fixture(params=testing.ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine a scenario runs on: 'local' (in process) and 'kafka' (a real broker)."""
    if request.param == "kafka":
        request.applymarker(pytest.mark.kafka)
        broker = request.getfixturevalue("kafka_broker")
        testing.use_brokers(broker.bootstrap_servers)
    try:
        yield request.param
    finally:
        testing.close_all()
