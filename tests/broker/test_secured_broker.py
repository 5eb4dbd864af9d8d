"""A secured LocalKafka (issue #21 item 3), reached by raw aiokafka clients built by hand.

One SASL_SSL broker serves most tests (module fixture: each JVM start costs ~5 s of CPU); mutual
TLS and the `kafka start --secure` command (SASL_PLAINTEXT) need a broker of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from streamgraph.broker import LocalKafka, broker_records
from streamgraph.broker.acls import topic_access
from streamgraph.broker.credentials import unsecured_jwt
from streamgraph.broker.probe import free_ports

pytestmark = pytest.mark.kafka
STREAMGRAPH = str(Path(sys.executable).with_name("streamgraph"))


@pytest.fixture(scope="module")
def kafka() -> Iterator[LocalKafka]:
    broker = LocalKafka(security="sasl_ssl").start()
    try:
        yield broker
    finally:
        broker.stop()


class _Token(AbstractTokenProvider):
    def __init__(self, subject: str) -> None:
        self.subject = subject

    async def token(self) -> str:
        return unsecured_jwt(self.subject)


def client_args(env: Mapping[str, str], *, oauth: bool = False) -> dict[str, Any]:
    """aiokafka arguments from STREAMGRAPH_* variables, by hand (not streamgraph's mapping)."""
    args: dict[str, Any] = {
        "bootstrap_servers": env["STREAMGRAPH_BROKERS"],
        "security_protocol": env["STREAMGRAPH_KAFKA_SECURITY_PROTOCOL"],
        "request_timeout_ms": 10_000,
    }
    if "STREAMGRAPH_KAFKA_SSL_CAFILE" in env:
        context = ssl.create_default_context(cafile=env["STREAMGRAPH_KAFKA_SSL_CAFILE"])
        if "STREAMGRAPH_KAFKA_SSL_CERTFILE" in env:
            context.load_cert_chain(
                env["STREAMGRAPH_KAFKA_SSL_CERTFILE"], env["STREAMGRAPH_KAFKA_SSL_KEYFILE"]
            )
        args["ssl_context"] = context
    if "STREAMGRAPH_KAFKA_SASL_MECHANISM" in env:
        args["sasl_mechanism"] = env["STREAMGRAPH_KAFKA_SASL_MECHANISM"]
        if oauth:
            args["sasl_oauth_token_provider"] = _Token(env["STREAMGRAPH_KAFKA_SASL_USERNAME"])
        else:
            args["sasl_plain_username"] = env["STREAMGRAPH_KAFKA_SASL_USERNAME"]
            args["sasl_plain_password"] = env["STREAMGRAPH_KAFKA_SASL_PASSWORD"]
    return args


async def round_trip(args: Mapping[str, Any], topic: str, group: str | None = None) -> None:
    """Produce one record to `topic` and read it back (in `group`, committing its offset)."""
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(**args)
    try:  # a failed start (authentication, TLS) still leaves a producer to stop
        await producer.start()
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False, **args
    )
    try:
        await consumer.start()
        while True:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            if any(r.value == value for records in batch.values() for r in records):
                break
        if group is not None:
            await consumer.commit()
    finally:
        await consumer.stop()


async def create_topic(args: Mapping[str, Any], name: str) -> None:
    admin = AIOKafkaAdminClient(**args)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_admin_produces_and_consumes_over_sasl_ssl(kafka: LocalKafka, mechanism: str) -> None:
    env = kafka.client_env(mechanism=mechanism)
    assert env["STREAMGRAPH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["STREAMGRAPH_KAFKA_SSL_CAFILE"] == str(kafka.ca_file)
    asyncio.run(round_trip(client_args(env), fresh("admin"), fresh("g")))


def test_default_mechanism_is_scram_sha_512(kafka: LocalKafka) -> None:
    env = kafka.client_env()
    assert env["STREAMGRAPH_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["STREAMGRAPH_KAFKA_SASL_USERNAME"] == "admin"


def test_oauthbearer_with_a_token_provider(kafka: LocalKafka) -> None:
    env = kafka.client_env(mechanism="OAUTHBEARER")
    assert "STREAMGRAPH_KAFKA_SASL_PASSWORD" not in env
    asyncio.run(round_trip(client_args(env, oauth=True), fresh("oauth"), fresh("g")))


def test_a_wrong_password_fails_authentication(kafka: LocalKafka) -> None:
    env = {**kafka.client_env(), "STREAMGRAPH_KAFKA_SASL_PASSWORD": "not-the-password"}
    with pytest.raises((SaslAuthenticationFailed, KafkaConnectionError)) as caught:
        asyncio.run(round_trip(client_args(env), fresh("wrong")))
    assert "not-the-password" not in str(caught.value)


def test_a_client_that_does_not_trust_the_ca_fails(kafka: LocalKafka) -> None:
    args = {**client_args(kafka.client_env()), "ssl_context": ssl.create_default_context()}
    with pytest.raises(KafkaConnectionError):
        asyncio.run(round_trip(args, fresh("untrusted")))


def test_a_new_user_is_denied_until_granted(kafka: LocalKafka) -> None:
    topic, group = fresh("alice"), fresh("alice-group")
    asyncio.run(create_topic(client_args(kafka.client_env()), topic))
    alice = client_args(kafka.client_env(user="alice"))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(round_trip(alice, topic, group))

    kafka.grant(topic_access("alice", topic, group))
    asyncio.run(_eventually(lambda: round_trip(alice, topic, group)))

    kafka.revoke(topic_access("alice", topic, group))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_eventually_denied(lambda: round_trip(alice, topic, group)))


def test_no_password_in_logs_repr_or_command_line(kafka: LocalKafka) -> None:
    kafka.client_env(user="carol")  # a user made at runtime has a password too
    passwords = list(json.loads((kafka.data_dir / "credentials.json").read_text()).values())
    assert len(passwords) >= 2
    assert stat.S_IMODE((kafka.data_dir / "credentials.json").stat().st_mode) == 0o600
    logs = "".join(spec.log_path.read_text() for spec in kafka.specs)
    # the config dump is logged (secure_config.LOG4J2_CONFIG_DUMP); the listener's JAAS
    # settings are not in it (Kafka dumps only unprefixed names, password types as [hidden])
    assert "sasl.jaas.config = " in logs
    cmdline = Path(f"/proc/{kafka.pids[0]}/cmdline").read_bytes().decode(errors="replace")
    for password in passwords:
        assert password not in logs
        assert password not in repr(kafka)
        assert password not in cmdline
    for spec in kafka.specs:
        assert stat.S_IMODE(spec.properties_path.stat().st_mode) == 0o600
        # the format tool read its --add-scram passwords from this @argfile, gone once used
        assert not (spec.directory / "format.args").exists()
    for key in kafka.data_dir.glob("tls/*key*.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_mutual_tls() -> None:
    with LocalKafka(security="ssl") as kafka:
        env = kafka.client_env()
        assert env["STREAMGRAPH_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        asyncio.run(round_trip(client_args(env), fresh("mtls"), fresh("g")))
        # a certificate the broker's CA signed, for a user with no ACL: known, but denied
        bob = kafka.client_env(user="bob")
        assert Path(bob["STREAMGRAPH_KAFKA_SSL_CERTFILE"]).name == "client-bob.pem"
        with pytest.raises(TopicAuthorizationFailedError):
            asyncio.run(round_trip(client_args(bob), fresh("bob")))
        # no client certificate at all: the TLS handshake itself is refused
        anonymous = {k: v for k, v in env.items() if "CERTFILE" not in k and "KEYFILE" not in k}
        with pytest.raises(KafkaError):
            asyncio.run(round_trip(client_args(anonymous), fresh("anon")))


def test_kafka_start_secure_sasl_plaintext(tmp_path: Path) -> None:
    data = tmp_path / "kafka"
    [port] = free_ports(1)
    started = _cli("start", "--secure", "sasl_plaintext", "--port", str(port), "--data", str(data))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        env_file = data / "client.env"
        assert f"set -a; . {env_file}; set +a" in started.stdout
        assert f"export STREAMGRAPH_BROKERS=127.0.0.1:{port}" in started.stdout
        assert "export STREAMGRAPH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in started.stdout
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        status = _cli("status", "--data", str(data))
        assert status.returncode == 0 and "serving" in status.stdout, status.stdout

        env = _load_env_file(env_file)
        assert env["STREAMGRAPH_KAFKA_SASL_USERNAME"] == "admin"
        asyncio.run(round_trip(client_args(env), fresh("cli"), fresh("g")))
        password = env["STREAMGRAPH_KAFKA_SASL_PASSWORD"]
        for output in (started, status):
            assert password not in output.stdout + output.stderr
    finally:
        stopped = _cli("stop", "--data", str(data))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert (
        broker_records.load(broker_records.folder(), broker_records.kafka_start_key(data)) is None
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STREAMGRAPH, "kafka", *args], capture_output=True, text=True, timeout=180, check=False
    )


def _load_env_file(path: Path) -> dict[str, str]:
    """The variables of `path` as a POSIX shell sees them after `set -a; . FILE`."""
    script = f"set -a; . {path}; set +a; env -0"
    raw = subprocess.run(["sh", "-c", script], capture_output=True, check=True, env={}).stdout
    pairs = (item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("STREAMGRAPH_")}


async def _eventually(attempt: Any, timeout: float = 20.0) -> None:
    """Retry while the ACLs just granted have not reached the broker's authorizer yet."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await attempt()  # type: ignore[no-any-return]
        except TopicAuthorizationFailedError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def _eventually_denied(attempt: Any, timeout: float = 20.0) -> None:
    """Retry until the revoked ACLs are gone (the attempt then raises, as the caller expects)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        await attempt()
        await asyncio.sleep(0.3)


assert os.name == "posix"  # file modes and /proc: Linux only, as LocalKafka's tests are
