"""`streamgraph kafka start|status|stop`, run as the real command in subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from click.testing import CliRunner

from streamgraph.broker import broker_records
from streamgraph.broker.jvm_process import pid_alive
from streamgraph.broker.probe import HOST, answers_api_versions, free_ports
from streamgraph.cli import main

STREAMGRAPH = str(Path(sys.executable).with_name("streamgraph"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STREAMGRAPH, "kafka", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "command", [[], ["kafka"], ["kafka", "start"], ["kafka", "stop"], ["kafka", "status"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


@pytest.mark.kafka
def test_start_status_stop_round_trip(tmp_path: Path) -> None:
    data = str(tmp_path / "kafka")
    elsewhere = tmp_path / "elsewhere"  # status and stop find it from any folder
    elsewhere.mkdir()
    records = broker_records.folder()  # the session's state folder (tests/conftest.py)
    key = broker_records.kafka_start_key(Path(data))
    [port] = free_ports(1)
    address = f"{HOST}:{port}"
    assert run("status", "--data", data).returncode == 1  # nothing recorded yet

    started = run("start", "--port", str(port), "--data", data)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"running at {address}" in started.stdout
        assert f"export STREAMGRAPH_BROKERS={address}" in started.stdout
        [pid] = [node["pid"] for node in json.loads((records / f"{key}.json").read_text())["nodes"]]
        assert pid_alive(pid)  # the broker outlived the command that started it
        assert answers_api_versions(HOST, port)
        asyncio.run(_create_topic(address, "kept"))

        status = run("status", cwd=elsewhere)
        assert status.returncode == 0, status.stdout
        assert f"pid {pid} {address} serving" in status.stdout
        assert "streamgraph kafka start: data in " + str(Path(data).resolve()) in status.stdout
        again = run("start", "--port", str(port), "--data", data)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        stopped = run("stop", cwd=elsewhere)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_alive(pid)
    assert not (records / f"{key}.json").exists()
    assert run("status", "--data", data).returncode == 1

    # the data stays: a second start finds the topic made during the first
    restarted = run("start", "--port", str(port), "--data", data)
    try:
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert "kept" in asyncio.run(_topics(address))
    finally:
        assert run("stop", "--data", data).returncode == 0
    assert run("stop", "--data", data).stdout.startswith("no Kafka recorded")


async def _create_topic(address: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=address)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _topics(address: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=address)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()
