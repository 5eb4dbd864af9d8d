"""docker-compose.kafka.yml runs the broker the docs and the defaults describe."""

from __future__ import annotations

from pathlib import Path

import yaml

from streamgraph.broker.config import DEFAULT_BOOTSTRAP, DEFAULT_PORT, docker_environment
from streamgraph.broker.docker import DOCKER_IMAGE
from streamgraph.broker.jars import DEFAULT_VERSION

ROOT = Path(__file__).resolve().parents[2]


def _service() -> dict[str, object]:
    compose = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
    [service] = compose["services"].values()
    return dict(service)


def test_compose_runs_the_same_kafka_release_as_the_jar_broker() -> None:
    assert _service()["image"] == f"apache/kafka:{DEFAULT_VERSION}" == DOCKER_IMAGE


def test_compose_serves_the_default_broker_address_on_loopback_only() -> None:
    # DESIGN.md: STREAMGRAPH_BROKERS defaults to 127.0.0.1:9092
    assert DEFAULT_BOOTSTRAP == "127.0.0.1:9092"
    assert _service()["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"]
    env = _service()["environment"]
    assert isinstance(env, dict)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{DEFAULT_BOOTSTRAP}"


def test_compose_has_exactly_the_settings_of_the_test_broker() -> None:
    # the same settings the Docker test fixture starts the image with (strings, as YAML quotes)
    assert _service()["environment"] == docker_environment(DEFAULT_PORT)


def test_the_docs_name_the_compose_file_and_the_default_address() -> None:
    docs = (ROOT / "docs" / "kafka.md").read_text()
    assert "docker-compose.kafka.yml" in docs
    assert DEFAULT_BOOTSTRAP in docs
    assert f"apache/kafka:{DEFAULT_VERSION}" in docs
