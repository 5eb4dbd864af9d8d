"""A `streamgraph worker` stops when asked, even with its broker gone (stop_timeout_seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
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
    # the broker is stopped: Faust alone may take about a minute to give up (when its stop
    # hangs on the broker), or stop at once (when every request to it fails fast); either way
    # the worker ends within its stop timeout, and says so when the deadline ended it
    returncode, waited = _stop(popen)
    assert waited < 20, waited
    text = log.read_text(errors="replace")
    if returncode == 1:
        assert "did not stop within 3 s" in text
    else:
        assert returncode == 0, text[-2000:]
        assert "did not stop" not in text


def test_the_stop_deadline_ends_a_process_whose_stop_hangs(tmp_path: Path) -> None:
    """The deadline itself, made certain: an app that began to stop and never ends."""
    script = (
        "import time, types\n"
        "from streamgraph.engines.kafka.stop_deadline import watch_stop_deadline\n"
        "watch_stop_deadline(types.SimpleNamespace(should_stop=True), 1.0)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert time.monotonic() - started < 30
    assert "did not stop within 1 s" in done.stderr


def test_a_healthy_worker_stops_cleanly(kafka_broker: Any, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    popen = _worker(kafka_broker.bootstrap_servers, log, stop_timeout=30)
    returncode, _ = _stop(popen)
    assert returncode == 0
    assert "did not stop" not in log.read_text(errors="replace")
