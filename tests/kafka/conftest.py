"""Fixtures of the Kafka tests that start worker processes of the topology modules here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers import WorkerFactory

from streamgraph.broker import LocalKafka

HERE = Path(__file__).parent


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Workers of the topology modules in this folder (`chain_topology`, ...), stopped after."""
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = os.pathsep.join([str(HERE), made.env.get("PYTHONPATH", "")])
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of the test's own, for tests that stop and start it (the session's stays up)."""
    broker = LocalKafka(data_dir=tmp_path / "kafka").start()
    try:
        yield broker
    finally:
        broker.stop()
