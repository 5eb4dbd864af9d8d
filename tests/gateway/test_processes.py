"""`streamgraph gateway --processes 2`: two gateways on one port, each with its own replies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import topologies.pipeline_reply
from streamgraph.broker.jvm_process import pid_alive
from streamgraph.broker.probe import free_ports
from streamgraph.testing import serve
from topologies.pipeline import enrich, label, score

pytestmark = pytest.mark.kafka

START_TIMEOUT = 90.0  # seconds for both gateway processes to answer
STOP_TIMEOUT = 30.0  # seconds for the parent and its children to be gone after SIGTERM


async def _ready(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    """/readyz on a fresh connection (so the kernel may pick either process), or None."""
    try:
        async with session.get(f"{url}/readyz", headers={"Connection": "close"}) as resp:
            if resp.status != 200:
                return None
            answer: dict[str, Any] = await resp.json()
            return answer
    except aiohttp.ClientError:
        return None


async def _by_pid(session: aiohttp.ClientSession, url: str, want: Any, timeout: float) -> Any:
    """Ask /readyz until `want(seen)` holds for {pid: latest answer}; the answers by pid."""
    seen: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await _ready(session, url)
        if answer is not None:
            seen[answer["pid"]] = answer
            if want(seen):
                return seen
    raise AssertionError(f"/readyz answers within {timeout} s did not satisfy the check: {seen}")


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


async def test_two_gateway_processes_share_a_port_and_stop_with_their_parent(
    kafka_broker: Any, tmp_path: Path
) -> None:
    function = topologies.pipeline_reply.function
    server = serve(function, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STREAMGRAPH_BROKERS": kafka_broker.bootstrap_servers,
        "STREAMGRAPH_TOPIC_PREFIX": server.settings.topic_prefix,
        "STREAMGRAPH_PARTITIONS": str(server.settings.partitions),
    }
    log = (tmp_path / "gateway.log").open("wb")
    argv = [sys.executable, "-m", "streamgraph.cli", "gateway", "topologies.pipeline_reply"]
    parent = subprocess.Popen(
        [*argv, "--port", str(port), "--processes", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    children: set[int] = set()
    try:
        async with aiohttp.ClientSession() as session:
            seen = await _by_pid(session, url, lambda s: len(s) == 2, START_TIMEOUT)
            children = _children(parent.pid)
            assert set(seen) == children  # both are the parent's children, by pid
            topics = {answer["reply_topic"] for answer in seen.values()}
            assert len(topics) == 2  # a reply topic each

            # requests on fresh connections, spread by the kernel over both processes
            for n in range(40):
                body = {"n": n}
                async with session.post(url, json=body, headers={"Connection": "close"}) as resp:
                    assert resp.status == 200
                    assert await resp.json() == label(score(enrich(body)))
            # both answered some, and neither ever read a reply meant for the other (it would
            # have counted it as late, and the other's caller would have timed out)
            seen = await _by_pid(
                session, url, lambda s: len(s) == 2 and all(a["replies"] for a in s.values()), 30
            )
            assert sum(a["replies"] for a in seen.values()) == 40
            assert [a["late_replies"] for a in seen.values()] == [0, 0]
    finally:
        if parent.poll() is None:
            parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(STOP_TIMEOUT)
        finally:
            if parent.poll() is None:  # a failed test must not leave it running
                parent.kill()
                parent.wait(10)
            log.close()
            server.close()
    output = (tmp_path / "gateway.log").read_text(errors="replace")
    assert parent.returncode == 0, output
    assert children and not any(pid_alive(pid) for pid in children), output


async def test_when_one_gateway_process_dies_the_parent_stops_the_other(
    kafka_broker: Any, tmp_path: Path
) -> None:
    function = topologies.pipeline_reply.function
    server = serve(function, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    port = free_ports(1)[0]
    env = {
        **os.environ,
        "STREAMGRAPH_BROKERS": kafka_broker.bootstrap_servers,
        "STREAMGRAPH_TOPIC_PREFIX": server.settings.topic_prefix,
    }
    argv = [sys.executable, "-m", "streamgraph.cli", "gateway", "topologies.pipeline_reply"]
    with (tmp_path / "gateway.log").open("wb") as log:
        parent = subprocess.Popen(
            [*argv, "--port", str(port), "--processes", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}"
                seen = await _by_pid(session, url, lambda s: len(s) == 2, START_TIMEOUT)
            victim, other = sorted(seen)
            os.kill(victim, signal.SIGKILL)
            assert parent.wait(STOP_TIMEOUT) == 1  # it noticed, stopped the other, said so
            assert not pid_alive(other)
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait(10)
            server.close()
    assert f"gateway process {victim} exited" in (tmp_path / "gateway.log").read_text()


def test_streamgraph_run_starts_its_gateway_as_several_processes(kafka_broker: Any) -> None:
    import re
    import uuid

    import topologies.cyclic
    from streamgraph.commands.demo import demo_requests

    port = free_ports(1)[0]
    brokers = kafka_broker.bootstrap_servers
    env = {**os.environ, "STREAMGRAPH_TOPIC_PREFIX": f"runp{uuid.uuid4().hex[:8]}"}
    argv = [sys.executable, "-m", "streamgraph.cli", "run", "topologies.cyclic"]
    done = subprocess.run(
        [*argv, "--brokers", brokers, "--port", str(port), "--processes", "2", "--exit-after-demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    answered = [line for line in done.stdout.splitlines() if line.startswith("  -> 200 ")]
    assert len(answered) == len(demo_requests(topologies.cyclic)), output
    folder = Path(done.stdout.split("run folder (logs): ")[1].splitlines()[0])
    log = (folder / "gateway.log").read_text()
    found = re.search(r"gateway processes: pids (\d+), (\d+)", log)
    assert found, log
    assert not [pid for pid in map(int, found.groups()) if pid_alive(pid)]
