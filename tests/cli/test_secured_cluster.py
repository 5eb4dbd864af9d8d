"""Serving on a secured broker, as on Confluent Cloud, MSK or Strimzi: TLS, SASL, ACLs.

One `LocalKafka(security="sasl_ssl")` for the module (StandardAuthorizer, no ACL = no access);
mutual TLS needs a broker of its own. Every test searches what it captured for the broker's
passwords: a secret never reaches a log line or a command's output.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_support import expected_cyclic_answers, same_answer, stop_process, wait_for_text

import streamgraph as sg
import topologies.cyclic
from streamgraph.broker import LocalKafka
from streamgraph.commands.demo import demo_requests
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def secured() -> Iterator[LocalKafka]:
    with LocalKafka(security="sasl_ssl") as kafka:
        yield kafka


def _passwords(kafka: LocalKafka) -> list[str]:
    """Every password of the broker's users that a client environment holds."""
    env = kafka.client_env()
    return [v for k, v in env.items() if k.endswith("PASSWORD") and v]


def _use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):  # another test's security settings must not leak in
        if name.startswith("STREAMGRAPH_KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STREAMGRAPH_TOPIC_PREFIX", f"sec{uuid.uuid4().hex[:8]}")


def _two_steps() -> Any:
    fn = sg.new_function("secured", kind="serving")
    graph = fn.set_topology("flow", engine="async")
    graph.to(name="a", handler="(event)").to(name="b", handler="(event)").respond()
    return fn


def _round_trip(brokers: str) -> Any:
    server = serve(_two_steps(), engine="kafka", brokers=brokers)
    try:
        return server.test(body={"q": 1})
    finally:
        server.wait_for_completion()


def _no_secret(text: str, kafka: LocalKafka) -> None:
    for password in _passwords(kafka):
        assert password not in text


@pytest.mark.parametrize("lean", ["true", "false"])
def test_sasl_ssl_with_scram_sha_512_serves_a_graph(
    secured: LocalKafka,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    lean: str,
) -> None:
    """On streamgraph's lean transport and on Faust's stock classes."""
    caplog.set_level(logging.DEBUG)
    env = secured.client_env()
    assert env["STREAMGRAPH_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    _use(monkeypatch, env)
    monkeypatch.setenv("STREAMGRAPH_LEAN_TRANSPORT", lean)
    assert _round_trip(env["STREAMGRAPH_BROKERS"]) == {"q": 1}
    _no_secret(caplog.text, secured)


def test_oauthbearer_with_a_token_provider_serves_a_graph(
    secured: LocalKafka, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = secured.client_env(mechanism="OAUTHBEARER")
    env["STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER"] = "secured_cluster_tokens:admin_token"
    _use(monkeypatch, env)
    assert _round_trip(env["STREAMGRAPH_BROKERS"]) == {"q": 1}
    _no_secret(caplog.text, secured)


def _properties_file(kafka: LocalKafka, folder: Path) -> Path:
    """The client properties file a Confluent Cloud / MSK console hands out, for `kafka`."""
    env = kafka.client_env()
    user = env["STREAMGRAPH_KAFKA_SASL_USERNAME"]
    password = env["STREAMGRAPH_KAFKA_SASL_PASSWORD"]
    path = folder / "client.properties"
    path.write_text(
        "# Required connection configs for Kafka producer, consumer, and admin\n"
        f"bootstrap.servers={env['STREAMGRAPH_BROKERS']}\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";\n'
        f"ssl.ca.location={env['STREAMGRAPH_KAFKA_SSL_CAFILE']}\n"
        "session.timeout.ms=45000\n"
    )
    path.chmod(0o600)
    return path


def test_faust_worker_and_send_with_a_properties_file(secured: LocalKafka, tmp_path: Path) -> None:
    """`faust -A topologies.cyclic worker` and `streamgraph send`, given nothing but the
    properties file: the brokers, protocol, mechanism, user, password and CA all come from it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STREAMGRAPH_KAFKA_") and k != "STREAMGRAPH_BROKERS"
    }
    env["STREAMGRAPH_KAFKA_CONFIG_FILE"] = str(_properties_file(secured, tmp_path))
    env["STREAMGRAPH_TOPIC_PREFIX"] = f"sec{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "topologies.cyclic", "worker", "-l", "info"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_text(log, "Ready", worker)
        bodies = [orjson.dumps(r.body).decode() for r in demo_requests(topologies.cyclic)]
        done = subprocess.run(
            [sys.executable, "-m", "streamgraph.cli", "send", "topologies.cyclic"],
            input="\n".join(bodies) + "\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
    finally:
        stop_process(worker)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = [orjson.loads(line) for line in done.stdout.splitlines()]
    by_line = {a["line"]: (a["status"], same_answer(a["answer"])) for a in answers}
    assert by_line == {i: (200, a) for i, a in enumerate(expected_cyclic_answers(), 1)}
    _no_secret(done.stdout + done.stderr + log.read_text(errors="replace"), secured)


def test_mutual_tls_serves_a_graph(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalKafka(security="ssl") as kafka:
        env = kafka.client_env()
        assert env["STREAMGRAPH_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert "STREAMGRAPH_KAFKA_SSL_CERTFILE" in env
        _use(monkeypatch, env)
        assert _round_trip(env["STREAMGRAPH_BROKERS"]) == {"q": 1}
