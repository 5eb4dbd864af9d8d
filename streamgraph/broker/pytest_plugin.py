"""pytest plugin: one real Kafka broker for the whole test session.

Enable it with `-p streamgraph.broker.pytest_plugin` (or `pytest_plugins` in the top conftest).
Fixtures:

- `kafka_broker`: an object with `bootstrap_servers`, started once per session. By default a
  LocalKafka (one node, from the Maven jars); with STREAMGRAPH_TEST_KAFKA=docker the apache/kafka
  image through testcontainers; with STREAMGRAPH_TEST_BROKERS=host:port,... that external
  broker, untouched.
- `kafka_bootstrap_servers`: the same broker's address, as a string.

A broker that cannot start makes every test using it FAIL (an error, not a skip), with the
broker's last log lines, so a broken environment never passes silently.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest
from pydantic import ValidationError

from streamgraph.broker.docker import DockerKafka
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local_kafka import LocalKafka
from streamgraph.broker.probe import answers_api_versions
from streamgraph.settings import Settings

#: How long an external broker may take to answer before the fixture fails.
EXTERNAL_TIMEOUT = 30.0


class KafkaBroker(Protocol):
    """What tests get: somewhere to connect."""

    @property
    def bootstrap_servers(self) -> str: ...


@dataclass(frozen=True)
class ExternalKafka:
    """A broker someone else runs (STREAMGRAPH_TEST_BROKERS)."""

    bootstrap_servers: str


def pytest_configure(config: pytest.Config) -> None:
    # so suites that use the plugin elsewhere can run with --strict-markers too
    config.addinivalue_line("markers", "kafka: needs the real Kafka broker of the session")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The session's Kafka broker (see the module docstring for how it is chosen)."""
    try:
        settings = Settings()
    except ValidationError as exc:  # e.g. STREAMGRAPH_TEST_KAFKA neither 'jar' nor 'docker'
        pytest.fail(f"streamgraph settings: {exc}", pytrace=False)
    external = settings.test_brokers.strip()
    mode = settings.test_kafka
    if external:
        _wait_external(external)
        yield ExternalKafka(external)
        return
    broker: LocalKafka | DockerKafka = LocalKafka() if mode == "jar" else DockerKafka()
    failure = ""
    try:
        broker.start()
    except BrokerError as exc:
        failure = f"the test Kafka broker ({mode}) did not start: {exc}"
    if failure:  # failed outside the except block, so the report shows the cause only once
        pytest.fail(failure, pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(kafka_broker: KafkaBroker) -> str:
    """The session broker's "host:port,..." address."""
    return kafka_broker.bootstrap_servers


def _wait_external(bootstrap_servers: str) -> None:
    addresses = []
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            pytest.fail(f"STREAMGRAPH_TEST_BROKERS: {item!r} is not host:port", pytrace=False)
        addresses.append((host, int(port)))
    deadline = time.monotonic() + EXTERNAL_TIMEOUT
    while not any(
        answers_api_versions(host, port, check_listening=False) for host, port in addresses
    ):
        if time.monotonic() > deadline:
            pytest.fail(
                f"STREAMGRAPH_TEST_BROKERS={bootstrap_servers}: no broker answered in "
                f"{EXTERNAL_TIMEOUT:.0f} s",
                pytrace=False,
            )
        time.sleep(0.5)


__all__ = ["ExternalKafka", "KafkaBroker", "kafka_bootstrap_servers", "kafka_broker"]
