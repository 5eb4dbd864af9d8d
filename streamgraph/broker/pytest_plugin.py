"""pytest plugin: one real Kafka broker for the whole test session.

Enable it with `-p streamgraph.broker.pytest_plugin` (or `pytest_plugins` in the top conftest).
Fixtures:

- `kafka_broker`: an object with `bootstrap_servers`, started once per session. By default a
  LocalKafka (one node, from the Maven jars); with STREAMGRAPH_TEST_KAFKA=docker the apache/kafka
  image through testcontainers; with STREAMGRAPH_TEST_BROKERS=host:port,... that external
  broker, untouched.
- `kafka_bootstrap_servers`: the same broker's address, as a string.

Under pytest-xdist (`-n N`) the controller starts the one broker (unless STREAMGRAPH_TEST_BROKERS
names one) before it starts the workers, hands each worker its address, and stops it when the
run ends: N workers share one broker, as the tests of one process do.

A broker that cannot start makes every test using it FAIL (an error, not a skip), with the
broker's last log lines, so a broken environment never passes silently.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from pydantic import ValidationError

from streamgraph.broker.docker import DockerKafka
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.local_kafka import LocalKafka
from streamgraph.broker.probe import answers_api_versions
from streamgraph.settings import Settings

#: How long an external broker may take to answer before the fixture fails.
EXTERNAL_TIMEOUT = 30.0
#: Where an xdist worker finds the address of its controller's broker
_WORKER_INPUT_KEY = "streamgraph_test_brokers"
#: The broker an xdist controller started for its workers
_SHARED_BROKER = pytest.StashKey[LocalKafka | DockerKafka]()


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
    if _is_xdist_controller(config) and not Settings().test_brokers.strip():
        broker = _start_broker(Settings().test_kafka)
        if isinstance(broker, str):
            raise pytest.UsageError(broker)
        config.stash[_SHARED_BROKER] = broker


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: called only when xdist runs
def pytest_configure_node(node: Any) -> None:
    """Hand the controller's broker to each xdist worker it starts."""
    broker = node.config.stash.get(_SHARED_BROKER, None)
    if broker is not None:
        node.workerinput[_WORKER_INPUT_KEY] = broker.bootstrap_servers


def pytest_unconfigure(config: pytest.Config) -> None:
    broker = config.stash.get(_SHARED_BROKER, None)
    if broker is not None:
        del config.stash[_SHARED_BROKER]
        broker.stop()


def _is_xdist_controller(config: pytest.Config) -> bool:
    """True in the process that hands tests to pytest-xdist workers (`-n N`, N > 0)."""
    if hasattr(config, "workerinput"):  # a worker
        return False
    try:
        workers = config.getoption("numprocesses")
    except ValueError:  # pytest-xdist is not installed, or disabled with -p no:xdist
        return False
    return bool(workers)


def _start_broker(mode: str) -> LocalKafka | DockerKafka | str:
    """A started broker of `mode` ("jar" or "docker"), or why it did not start."""
    broker: LocalKafka | DockerKafka = LocalKafka() if mode == "jar" else DockerKafka()
    try:
        return broker.start()
    except BrokerError as exc:
        return f"the test Kafka broker ({mode}) did not start: {exc}"


@pytest.fixture(scope="session")
def kafka_broker(pytestconfig: pytest.Config) -> Iterator[KafkaBroker]:
    """The session's Kafka broker (see the module docstring for how it is chosen)."""
    try:
        settings = Settings()
    except ValidationError as exc:  # e.g. STREAMGRAPH_TEST_KAFKA neither 'jar' nor 'docker'
        pytest.fail(f"streamgraph settings: {exc}", pytrace=False)
    shared: str | None = getattr(pytestconfig, "workerinput", {}).get(_WORKER_INPUT_KEY)
    if shared is not None:  # an xdist worker: its controller's broker (stopped by it)
        yield ExternalKafka(shared)
        return
    external = settings.test_brokers.strip()
    mode = settings.test_kafka
    if external:
        _wait_external(external)
        yield ExternalKafka(external)
        return
    broker = _start_broker(mode)
    if isinstance(broker, str):  # failed outside an except block: the cause shows only once
        pytest.fail(broker, pytrace=False)
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


__all__ = [
    "ExternalKafka",
    "KafkaBroker",
    "kafka_bootstrap_servers",
    "kafka_broker",
]
