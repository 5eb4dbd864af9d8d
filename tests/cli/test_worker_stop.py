"""A `streamgraph worker` stops when asked, even with its broker gone (stop_timeout_seconds)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_support import start_cyclic_worker

from streamgraph.broker import LocalKafka

pytestmark = pytest.mark.kafka


def _worker(brokers: str, log: Path, stop_timeout: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STREAMGRAPH_BROKERS": brokers,
        "STREAMGRAPH_TOPIC_PREFIX": f"stop{uuid.uuid4().hex[:8]}",
        "STREAMGRAPH_STOP_TIMEOUT_SECONDS": str(stop_timeout),
    }
    return start_cyclic_worker(env, log)


def _stop(popen: subprocess.Popen[bytes]) -> tuple[int, float]:
    started = time.monotonic()
    popen.terminate()
    try:
        return popen.wait(60), time.monotonic() - started
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)


def test_a_worker_whose_broker_is_gone_exits_after_its_stop_timeout(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with LocalKafka() as kafka:
        popen = _worker(kafka.bootstrap_servers, log, stop_timeout=3)
    # the broker is stopped: Faust alone would take about a minute to give up
    returncode, waited = _stop(popen)
    assert returncode == 1
    assert waited < 20, waited
    assert "did not stop within 3 s" in log.read_text(errors="replace")


def test_a_healthy_worker_stops_cleanly(kafka_broker: Any, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    popen = _worker(kafka_broker.bootstrap_servers, log, stop_timeout=30)
    returncode, _ = _stop(popen)
    assert returncode == 0
    assert "did not stop" not in log.read_text(errors="replace")
