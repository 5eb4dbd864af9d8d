"""The broker's pieces without a broker: jar cache, pom, configs, state file, pid checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from streamgraph.broker import jars
from streamgraph.broker.broker_records import BrokerState, NodeRecord, clear, load, recorded, save
from streamgraph.broker.config import (
    NodeSpec,
    new_cluster_id,
    render_properties,
    server_properties,
)
from streamgraph.broker.docker import DockerKafka
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.jvm_process import pid_alive, pid_runs


def test_the_cache_folder_follows_streamgraph_kafka_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMGRAPH_KAFKA_HOME", str(tmp_path))
    assert jars.libs_dir("4.4.0") == tmp_path / "4.4.0" / "libs"
    monkeypatch.delenv("STREAMGRAPH_KAFKA_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    expected = Path("~/.cache/streamgraph/kafka/4.4.0/libs").expanduser()
    assert jars.libs_dir("4.4.0") == expected


def test_jars_in_the_cache_are_used_without_maven(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMGRAPH_KAFKA_HOME", str(tmp_path))
    libs = tmp_path / "4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.4.0.jar").write_bytes(b"")
    monkeypatch.setattr(jars, "_run_maven", _no_maven)
    said: list[str] = []
    assert jars.ensure_jars("4.4.0", progress=said.append) == libs
    assert said == []


def test_a_missing_cache_is_fetched_with_a_progress_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMGRAPH_KAFKA_HOME", str(tmp_path))

    def fake_maven(root: Path, version: str, out: Path) -> None:
        out.mkdir()
        for name in (
            f"kafka_2.13-{version}",
            "log4j-api-2.1",
            "log4j-core-2.1",
            "log4j-slf4j-impl-2.1",
        ):
            (out / f"{name}.jar").write_bytes(b"")

    monkeypatch.setattr(jars, "_run_maven", fake_maven)
    said: list[str] = []
    libs = jars.ensure_jars("4.9.9", progress=said.append)
    assert said[0] == "fetching Apache Kafka 4.9.9 jars with Maven (first use only)..."
    assert (libs / "kafka_2.13-4.9.9.jar").is_file()
    assert not (tmp_path / "4.9.9" / "libs.partial").exists()


def test_a_fetch_without_the_logging_binding_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kafka_2.13-4.4.0.jar").write_bytes(b"")
    with pytest.raises(BrokerError, match="log4j-api"):
        jars.check_jars(tmp_path, "4.4.0")


def test_kafka_3_is_refused() -> None:
    with pytest.raises(BrokerError, match=r"Kafka 4\.x"):
        jars.ensure_jars("3.9.1")


def test_the_pom_adds_the_whole_log4j_backend_at_one_version() -> None:
    pom = jars.render_pom("4.4.0")
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.4.0</version>" in pom
    for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl"):
        assert f"<artifactId>{artifact}</artifactId>\n      <version>{jars.LOG4J_VERSION}<" in pom


def test_a_three_node_cluster_is_a_static_quorum_with_replication_three(tmp_path: Path) -> None:
    nodes = [NodeSpec(i, 9000 + i, 9100 + i, tmp_path / f"n{i}") for i in (1, 2, 3)]
    props = server_properties(nodes[1], nodes)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9002,CONTROLLER://127.0.0.1:9102"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9002"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"
    single = server_properties(nodes[0], nodes[:1], {"log.retention.ms": "1000"})
    assert single["min.insync.replicas"] == single["transaction.state.log.min.isr"] == "1"
    assert single["log.retention.ms"] == "1000"
    assert "log.dirs=" + str(tmp_path / "n1" / "data") in render_properties(single)


def test_cluster_ids_are_22_url_safe_characters() -> None:
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


def test_the_state_file_round_trips(tmp_path: Path) -> None:
    assert load(tmp_path, "kafka-x") is None
    state = BrokerState(
        "4.4.0", "127.0.0.1:1", [NodeRecord(1, 42, 1, "/x/server.properties", "/x/log")]
    )
    save(tmp_path, "kafka-x", state)
    assert load(tmp_path, "kafka-x") == state
    assert recorded(tmp_path) == [("kafka-x", state)]
    clear(tmp_path, "kafka-x")
    assert load(tmp_path, "kafka-x") is None
    (tmp_path / "kafka-x.json").write_text("{")
    with pytest.raises(BrokerError, match="not a streamgraph Kafka state file"):
        load(tmp_path, "kafka-x")
    assert recorded(tmp_path) == []  # a damaged record is nobody's broker


def test_a_recorded_pid_counts_only_when_it_runs_the_recorded_command() -> None:
    me = os.getpid()
    assert pid_alive(me)
    assert pid_runs(me, "pytest") or pid_runs(me, "python")
    assert not pid_runs(me, "kafka.Kafka /nowhere/server.properties")
    assert not pid_alive(2**22 + 1)  # above Linux's pid_max


def _no_maven(root: Path, version: str, out: Path) -> None:
    raise AssertionError("Maven must not run when the jars are cached")


def test_docker_mode_without_a_docker_engine_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(BrokerError, match=r"could not start apache/kafka:4\.4\.0 with Docker"):
        DockerKafka().start()
