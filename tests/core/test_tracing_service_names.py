"""Spans name their service: the gateway `streamgraph-gateway`, a worker its function's name,
unless STREAMGRAPH_OTEL_SERVICE_NAME names them all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import topologies.cyclic
import topologies.queue_child
from streamgraph.core import tracing
from streamgraph.engines.kafka.app import KafkaGraph
from streamgraph.gateway.server import gateway_app
from streamgraph.settings import Settings


@pytest.fixture(autouse=True)
def tracing_off() -> Iterator[None]:
    yield
    tracing.disable()


def service() -> str:
    assert tracing._provider is not None, "tracing was not configured"
    return str(tracing._provider.resource.attributes["service.name"])


def test_the_default_names_each_process() -> None:
    assert Settings().otel_service_name is None


def test_a_worker_names_its_function(tmp_path: Path) -> None:
    settings = Settings(otel_endpoint="console", state_dir=tmp_path)
    KafkaGraph(topologies.cyclic.function, settings)
    assert service() == topologies.cyclic.function.name
    tracing.disable()
    KafkaGraph(topologies.queue_child.function, settings, current_function="log-ds")
    assert service() == "log-ds"


def test_the_gateway_names_itself() -> None:
    gateway_app("cyclic", Settings(otel_endpoint="console"))
    assert service() == "streamgraph-gateway"


def test_the_setting_names_every_process(tmp_path: Path) -> None:
    settings = Settings(otel_endpoint="console", otel_service_name="shop", state_dir=tmp_path)
    gateway_app("cyclic", settings)
    assert service() == "shop"
    tracing.disable()
    KafkaGraph(topologies.cyclic.function, settings)
    assert service() == "shop"
