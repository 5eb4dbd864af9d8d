"""Kafka security on the command line and in deployed processes: named, never its secrets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cli_support import streamgraph

import topologies.cyclic
from streamgraph.deploy import Deployment, worker_commands
from streamgraph.reference import write_spec

PASSWORD = "cli-sasl-s3cret"
SECURED = {
    "STREAMGRAPH_BROKERS": "127.0.0.1:9",  # nothing is reached: describe only builds the apps
    "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "STREAMGRAPH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "STREAMGRAPH_KAFKA_SASL_USERNAME": "alice",
    "STREAMGRAPH_KAFKA_SASL_PASSWORD": PASSWORD,
}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGRAPH_KAFKA_")}
    return subprocess.run(
        streamgraph(*args), env={**clean, **env}, capture_output=True, text=True, timeout=180
    )


def test_describe_names_the_secured_cluster_but_not_the_password() -> None:
    done = _run("describe", "topologies.cyclic", env=SECURED)
    assert done.returncode == 0, done.stderr
    assert "Kafka at 127.0.0.1:9 (SASL_SSL, mechanism SCRAM-SHA-256, user alice)" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_settings_that_cannot_work_are_one_line_naming_the_setting() -> None:
    done = _run(
        "describe",
        "topologies.cyclic",
        env={**SECURED, "STREAMGRAPH_KAFKA_SASL_MECHANISM": ""},
    )
    assert done.returncode == 1
    assert "STREAMGRAPH_KAFKA_SASL_MECHANISM is needed with SASL_SSL" in done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stdout + done.stderr


def test_deployed_processes_get_secrets_through_their_environment_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECURED.items():
        monkeypatch.setenv(name, value)
    function = topologies.cyclic.function
    spec = write_spec(function, tmp_path)
    assert PASSWORD not in spec.read_text()
    argv = [arg for _, command in worker_commands(function, str(spec)) for arg in command]
    assert PASSWORD not in " ".join(argv)
    deployment = Deployment(function, brokers="127.0.0.1:9")
    assert deployment._env()["STREAMGRAPH_KAFKA_SASL_PASSWORD"] == PASSWORD
