"""Shared fixtures: every scenario test runs once per engine; Kafka tests share one broker."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgraph import testing

pytest_plugins = ["streamgraph.broker.pytest_plugin", "task_dump"]


def pytest_configure(config: pytest.Config) -> None:
    # the brokers `run` and `kafka start` record go to a folder of this session, never the
    # user's (~/.local/state/streamgraph); the processes tests start inherit it
    if "STREAMGRAPH_STATE_DIR" not in os.environ:
        os.environ["STREAMGRAPH_STATE_DIR"] = tempfile.mkdtemp(prefix="sg-test-state-")
    # the examples (agents, topologies) are in the checkout, not installed: `pythonpath` in
    # pyproject.toml puts its root on this process's sys.path; the processes tests start (workers
    # in folders of their own included) find them on PYTHONPATH
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, *paths) if p)


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
