"""The gateway tests start real worker processes with the helpers in tests/kafka/workers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamgraph.wire.reply_client import CLIENT_NAMES

KAFKA_TESTS = str(Path(__file__).parents[1] / "kafka")
if KAFKA_TESTS not in sys.path:
    sys.path.insert(0, KAFKA_TESTS)


@pytest.fixture(params=CLIENT_NAMES)
def kafka_client(request: pytest.FixtureRequest) -> str:
    """Each Kafka client the gateway can use (STREAMGRAPH_GATEWAY_KAFKA_CLIENT), in turn."""
    name: str = request.param
    return name
