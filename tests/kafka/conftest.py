"""Fixtures of the Kafka tests that start worker processes of the topology modules here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers import WorkerFactory

HERE = Path(__file__).parent


@pytest.fixture
def factory(kafka_broker: Any, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Workers of the topology modules in this folder (`chain_topology`, ...), stopped after."""
    made = WorkerFactory(kafka_broker.bootstrap_servers, tmp_path)
    made.env["PYTHONPATH"] = str(HERE)
    try:
        yield made
    finally:
        made.close()
