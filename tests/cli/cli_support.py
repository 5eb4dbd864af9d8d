"""Helpers and fixtures of the CLI tests (conftest.py registers the fixtures)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import topologies.cyclic
from streamgraph.commands.demo import demo_requests

_EVENT_ID = re.compile(r"for event [0-9a-f-]+")


def same_answer(answer: Any) -> Any:
    """An answer with its event ids blanked (they differ from run to run)."""
    return orjson.loads(_EVENT_ID.sub("for event ?", orjson.dumps(answer).decode()))


def expected_cyclic_answers() -> list[Any]:
    """What the in-process engine answers to the cyclic topology's demo requests."""
    server = topologies.cyclic.function.to_mock_server()
    try:
        return [
            same_answer(server.test(r.path, body=r.body, method=r.method, silent=True))
            for r in demo_requests(topologies.cyclic)
        ]
    finally:
        server.wait_for_completion()


def printed_answers(output: str) -> list[tuple[int, Any]]:
    """(status, answer) of every `  -> STATUS ANSWER` line `streamgraph run` printed."""
    found = []
    for line in output.splitlines():
        if line.startswith("  -> "):
            status, _, text = line[5:].partition(" ")
            found.append((int(status), same_answer(orjson.loads(text))))
    return found


def printed_pids(output: str) -> list[int]:
    return [int(m) for m in re.findall(r"\bpid (\d+)", output)]


def streamgraph(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamgraph.cli", *args]


@pytest.fixture
def kafka_env(kafka_broker: Any) -> dict[str, str]:
    """The environment of a CLI run on the session broker, with topics of its own."""
    return {
        **os.environ,
        "STREAMGRAPH_BROKERS": kafka_broker.bootstrap_servers,
        "STREAMGRAPH_TOPIC_PREFIX": f"cli{uuid.uuid4().hex[:8]}",
    }


def wait_for_text(path: Path, text: str, popen: subprocess.Popen[Any], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        if popen.poll() is not None:
            raise AssertionError(f"exited with {popen.returncode} before {text!r}:\n{content}")
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} after {timeout} s:\n{path.read_text(errors='replace')}")


def start_cyclic_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `streamgraph worker topologies.cyclic` process logging to `log`, once it is Ready."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            streamgraph("worker", "topologies.cyclic"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_text(log, "Ready", popen)
    except BaseException:
        stop_process(popen)
        raise
    return popen


def stop_process(popen: subprocess.Popen[bytes]) -> None:
    popen.terminate()
    try:
        popen.wait(20)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(10)


@pytest.fixture
def cyclic_worker(kafka_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One `streamgraph worker topologies.cyclic` process, ready."""
    popen = start_cyclic_worker(kafka_env, tmp_path / "worker.log")
    try:
        yield popen
    finally:
        stop_process(popen)


def pid_alive(pid: int) -> bool:
    from streamgraph.broker.jvm_process import pid_alive as alive

    return alive(pid)
