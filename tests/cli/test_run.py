"""`streamgraph run`: the whole stack as a subprocess, answers printed, every process stopped."""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_support import (
    expected_cyclic_answers,
    pid_alive,
    printed_answers,
    printed_pids,
    streamgraph,
    wait_for_text,
)

from streamgraph.broker.probe import free_ports


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        streamgraph("run", "topologies.cyclic", *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return orjson.loads(answer.read())


@pytest.mark.timeout(600)  # `_run` allows the command 300 s
def test_run_local_prints_the_demo_answers_and_exits() -> None:
    port = free_ports(1)[0]
    done = _run("--local", "--port", str(port), "--exit-after-demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"serving on http://127.0.0.1:{port}/" in done.stdout
    assert f"curl -s -X POST http://127.0.0.1:{port}/" in done.stdout
    assert printed_answers(done.stdout) == [(200, a) for a in expected_cyclic_answers()]


def test_run_local_serves_until_interrupted(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            streamgraph("run", "topologies.cyclic", "--local", "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_text(log, "serving until Ctrl-C", popen)
        body = {"topic": "tests", "min_points": 2}
        assert _post(f"http://127.0.0.1:{port}/", body)["answer"] == [
            "point 1 about tests",
            "point 2 about tests",
        ]
        popen.send_signal(signal.SIGINT)
        assert popen.wait(30) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    assert "stopped" in log.read_text()


@pytest.mark.kafka
@pytest.mark.timeout(600)  # `_run` allows the command 300 s
def test_run_on_kafka_prints_the_demo_answers_and_stops_everything(
    kafka_env: dict[str, str],
) -> None:
    port = free_ports(1)[0]
    brokers = kafka_env["STREAMGRAPH_BROKERS"]
    done = _run("--brokers", brokers, "--port", str(port), "--exit-after-demo", env=kafka_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run folder (logs): " in done.stdout
    assert printed_answers(done.stdout) == [(200, a) for a in expected_cyclic_answers()]
    pids = printed_pids(done.stdout)
    assert len(pids) == 2  # the worker and the gateway
    assert not [pid for pid in pids if pid_alive(pid)]
    folder = Path(done.stdout.split("run folder (logs): ")[1].splitlines()[0])
    assert "Ready" in (folder / "worker-cyclic-function.log").read_text()


@pytest.mark.kafka
def test_run_on_kafka_serves_until_interrupted(kafka_env: dict[str, str], tmp_path: Path) -> None:
    port = free_ports(1)[0]
    log = tmp_path / "run.log"
    argv = streamgraph("run", "topologies.cyclic", "--brokers", kafka_env["STREAMGRAPH_BROKERS"])
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [*argv, "--port", str(port)], env=kafka_env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        output = wait_for_text(log, "serving until Ctrl-C", popen)
        answer = _post(f"http://127.0.0.1:{port}/", {"topic": "kafka", "min_points": 1})
        assert answer["answer"] == ["point 1 about kafka"]
        pids = printed_pids(output)
        assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
        popen.send_signal(signal.SIGINT)
        assert popen.wait(60) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    assert not [pid for pid in pids if pid_alive(pid)]
    assert "stopped every process of this run" in log.read_text()
