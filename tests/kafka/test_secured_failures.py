"""A refused login, an untrusted or mismatched TLS certificate, a missing ACL: every command, the
worker and the gateway say it in one line, fast, and never show a password (issue #21 item 5).

One SASL_SSL broker for the module (each JVM start costs ~5 s of CPU). The commands of one
failure run side by side; each must end non-zero within 30 s of its own start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streamgraph.broker import LocalKafka
from streamgraph.broker.acls import Acl
from streamgraph.connection.kafka_security import security_of_env
from streamgraph.core.event import Event
from streamgraph.wire.codec import encode
from streamgraph.wire.reach import check_reachable

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]  # topologies.NAME import from here
STREAMGRAPH = str(Path(sys.executable).with_name("streamgraph"))
FAUST = str(Path(sys.executable).with_name("faust"))
TOPOLOGY = "topologies.cyclic"
FUNCTION = "cyclic-function"
LIMIT = 30.0  # seconds: every failure surfaces within this
WRONG_PASSWORD = f"not-the-password-{uuid.uuid4().hex[:8]}"
SECRETS: list[str] = []  # the module broker's passwords (and the wrong one), once it started


class _Outputs(list[str]):
    """Every captured output, each searched for every password as it is captured (the tests
    of this module may run on several xdist workers: no test may rely on another's list)."""

    def append(self, output: str) -> None:
        assert SECRETS, "the secured broker fixture has not run"
        for secret in SECRETS:
            assert secret not in output
        super().append(output)


OUTPUTS = _Outputs()


@dataclass(frozen=True)
class Ran:
    argv: list[str]
    returncode: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Secured:
    kafka: LocalKafka
    admin: dict[str, str]
    bob: dict[str, str]  # a SCRAM user with no ACL
    other_ca: Path  # a CA that signed nothing of this broker
    mismatched: str  # an address of the broker its certificate does not name
    secrets: tuple[str, ...]


def _forward(port: int) -> tuple[str, Callable[[], None]]:
    """A TCP relay on 127.0.0.2 to the broker on 127.0.0.1: the certificate names 127.0.0.1
    and localhost, so a client that connects through it sees a host name mismatch. Returns
    its address and what stops it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        to_reader, to_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, to_writer), pipe(to_reader, writer))

    async def serve() -> asyncio.Server:
        return await asyncio.start_server(relay, "127.0.0.2", 0)

    server = asyncio.run_coroutine_threadsafe(serve(), loop).result(10)

    def stop() -> None:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return f"127.0.0.2:{server.sockets[0].getsockname()[1]}", stop


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("other-ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=some-other-ca"],
        cwd=folder, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    kafka = LocalKafka(security="sasl_ssl").start()
    try:
        admin, bob = kafka.client_env(), kafka.client_env(user="bob")
        port = int(admin["STREAMGRAPH_BROKERS"].rsplit(":", 1)[1])
        mismatched, stop_relay = _forward(port)
        passwords = (
            admin["STREAMGRAPH_KAFKA_SASL_PASSWORD"],
            bob["STREAMGRAPH_KAFKA_SASL_PASSWORD"],
        )
        SECRETS[:] = [*passwords, WRONG_PASSWORD]
        yield Secured(
            kafka, admin, bob, folder / "ca.pem", mismatched, (*passwords, WRONG_PASSWORD)
        )
        stop_relay()
    finally:
        kafka.stop()


def _env(client: dict[str, str], tmp: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGRAPH_")}
    env.update(client)
    env.update(changes)
    env["STREAMGRAPH_STATE_DIR"] = str(tmp / "state")
    env.setdefault("STREAMGRAPH_TOPIC_PREFIX", f"f{uuid.uuid4().hex[:8]}")
    return env


def _run(argv: list[str], env: dict[str, str], stdin: str = "") -> Ran:
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, cwd=ROOT, input=stdin.encode(), capture_output=True, timeout=LIMIT + 30
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    OUTPUTS.append(output)
    return Ran(argv, done.returncode, output, time.monotonic() - started)


def _commands(env: dict[str, str]) -> list[Ran]:
    """topics, send, inspect, dlq replay: side by side, each with `env`."""
    runs = [
        ([STREAMGRAPH, "topics", TOPOLOGY], ""),
        ([STREAMGRAPH, "send", TOPOLOGY], '{"x": 1}\n'),
        ([STREAMGRAPH, "inspect", FUNCTION, "--request-id", "r1"], ""),
        ([STREAMGRAPH, "dlq", "replay", FUNCTION, "--settle", "0"], ""),
    ]
    with ThreadPoolExecutor(len(runs)) as pool:
        return list(pool.map(lambda run: _run(run[0], env, run[1]), runs))


def _one_line(ran: Ran, *words: str) -> str:
    """The command failed fast with one line (no traceback) holding every word."""
    assert ran.returncode != 0, ran
    assert ran.seconds < LIMIT, ran
    assert "Traceback" not in ran.output, ran.output
    lines = [line for line in ran.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, ran.output
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_a_wrong_password(secured: Secured, tmp_path: Path) -> None:
    env = _env(secured.admin, tmp_path, STREAMGRAPH_KAFKA_SASL_PASSWORD=WRONG_PASSWORD)
    brokers = secured.admin["STREAMGRAPH_BROKERS"]
    for ran in _commands(env):
        _one_line(ran, brokers, "refused the login", "SCRAM-SHA-512", "user admin")


def test_an_unknown_ca(secured: Secured, tmp_path: Path) -> None:
    env = _env(secured.admin, tmp_path, STREAMGRAPH_KAFKA_SSL_CAFILE=str(secured.other_ca))
    for ran in _commands(env):
        _one_line(ran, secured.admin["STREAMGRAPH_BROKERS"], "not trusted", "SCRAM-SHA-512")


def test_a_host_name_the_certificate_does_not_name(secured: Secured, tmp_path: Path) -> None:
    env = _env(secured.admin, tmp_path, STREAMGRAPH_BROKERS=secured.mismatched)
    for ran in _commands(env):
        _one_line(ran, secured.mismatched, "does not name the address", "127.0.0.2")


def test_a_user_without_acls(secured: Secured, tmp_path: Path) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}"
    made = _run([STREAMGRAPH, "topics", TOPOLOGY], _env(secured.admin, tmp_path,
                 STREAMGRAPH_TOPIC_PREFIX=prefix))  # fmt: skip
    assert made.returncode == 0, made.output  # the topics exist: bob may not see them
    topics, send, inspect, dlq = _commands(
        _env(secured.bob, tmp_path, STREAMGRAPH_TOPIC_PREFIX=prefix)
    )
    brokers = secured.admin["STREAMGRAPH_BROKERS"]
    _one_line(topics, brokers, "denied User:bob", f"topic {prefix}.{FUNCTION}.")
    _one_line(send, brokers, "denied User:bob", f"topic {prefix}.{FUNCTION}.in.replies.")
    # a topic a principal may not describe is left out of the metadata, not refused
    for ran in (inspect, dlq):
        _one_line(ran, brokers, "User:bob", "may not describe it", f"{prefix}.{FUNCTION}")


def test_describe_never_connects_and_names_the_secured_cluster(
    secured: Secured, tmp_path: Path
) -> None:
    ran = _run([STREAMGRAPH, "describe", TOPOLOGY], _env(secured.admin, tmp_path))
    assert ran.returncode == 0, ran.output
    assert "SASL_SSL, mechanism SCRAM-SHA-512, user admin" in ran.output


def test_run_reports_a_refused_worker_in_one_line(secured: Secured, tmp_path: Path) -> None:
    """`streamgraph run` starts the workers and the gateway; the worker refused the login ends
    the run with its own line, not with its log's tail."""
    env = _env(secured.admin, tmp_path, STREAMGRAPH_KAFKA_SASL_PASSWORD=WRONG_PASSWORD)
    ran = _run([STREAMGRAPH, "run", TOPOLOGY, "--port", "0", "--exit-after-demo"], env)
    _one_line(ran, "exited with 1: ", "refused the login", "user admin", "its log: ")
    assert "ƒaµS†" not in ran.output  # the tail (Faust's banner) is not shown


# -- the worker ----------------------------------------------------------------------------------
def _worker_line(ran: Ran, *words: str) -> None:
    assert ran.returncode == 1, ran.output[-3000:]
    assert ran.seconds < LIMIT, ran
    assert "Traceback" not in ran.output, ran.output[-3000:]
    lines = [line for line in ran.output.splitlines() if "[ERROR]" in line]
    assert len(lines) == 1, ran.output[-3000:]
    for word in (*words, "the worker stops"):
        assert word in lines[0], (word, lines[0])


def test_workers_refused_login_certificate_and_host_name(secured: Secured, tmp_path: Path) -> None:
    brokers = secured.admin["STREAMGRAPH_BROKERS"]
    cases = [  # `streamgraph worker` checks before it starts; `faust -A` in the app's preflight
        ([STREAMGRAPH, "worker", TOPOLOGY], {"STREAMGRAPH_KAFKA_SASL_PASSWORD": WRONG_PASSWORD}),
        ([FAUST, "-A", TOPOLOGY, "worker"], {"STREAMGRAPH_KAFKA_SASL_PASSWORD": WRONG_PASSWORD}),
        (
            [FAUST, "-A", TOPOLOGY, "worker"],
            {"STREAMGRAPH_KAFKA_SSL_CAFILE": str(secured.other_ca)},
        ),
        ([FAUST, "-A", TOPOLOGY, "worker"], {"STREAMGRAPH_BROKERS": secured.mismatched}),
    ]
    with ThreadPoolExecutor(len(cases)) as pool:
        runs = list(pool.map(lambda c: _run(c[0], _env(secured.admin, tmp_path, **c[1])), cases))
    streamgraph_worker, faust_worker, unknown_ca, mismatch = runs
    assert streamgraph_worker.returncode == 1 and streamgraph_worker.seconds < LIMIT
    _one_line(streamgraph_worker, brokers, "refused the login", "user admin")
    _worker_line(faust_worker, brokers, "refused the login", "user admin")
    _worker_line(unknown_ca, brokers, "not trusted", "SCRAM-SHA-512")
    _worker_line(mismatch, secured.mismatched, "does not name the address")


def test_workers_without_acls_stop_naming_the_topic_or_the_group(
    secured: Secured, tmp_path: Path
) -> None:
    """No ACL at all: the first topic Faust creates is refused. Every topic granted but not the
    consumer group: aiokafka keeps the refusal where Faust never looks; the worker stops anyway,
    having committed nothing (it never joined the group)."""
    brokers = secured.admin["STREAMGRAPH_BROKERS"]
    bare, topics_only = f"f{uuid.uuid4().hex[:8]}", f"f{uuid.uuid4().hex[:8]}"
    secured.kafka.grant([Acl("bob", "topic", topics_only, "all", pattern="prefixed")])
    try:
        cases = [
            ([STREAMGRAPH, "worker", TOPOLOGY], bare),
            ([FAUST, "-A", TOPOLOGY, "worker"], topics_only),
        ]
        with ThreadPoolExecutor(len(cases)) as pool:
            no_acl, no_group = pool.map(
                lambda c: _run(c[0], _env(secured.bob, tmp_path, STREAMGRAPH_TOPIC_PREFIX=c[1])),
                cases,
            )
    finally:
        secured.kafka.revoke([Acl("bob", "topic", topics_only, "all", pattern="prefixed")])
    _worker_line(no_acl, brokers, "denied User:bob", f"topic {bare}.{FUNCTION}")
    _worker_line(no_group, brokers, "denied User:bob", f"group {topics_only}.{FUNCTION}")


async def _one_event(env: dict[str, str], topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=env["STREAMGRAPH_BROKERS"], **security_of_env(env).aiokafka_args()
    )
    await producer.start()
    try:
        key, value, headers = encode(Event({"x": 1}, None, "/", "POST", {}, "application/json"))
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _committed(env: dict[str, str], group: str) -> dict[Any, Any]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=env["STREAMGRAPH_BROKERS"], **security_of_env(env).aiokafka_args()
    )
    await admin.start()
    try:
        offsets: dict[Any, Any] = await admin.list_consumer_group_offsets(group)
        return offsets
    finally:
        await admin.close()


async def test_a_worker_refused_a_write_stops_committing_nothing(
    secured: Secured, tmp_path: Path
) -> None:
    """bob may create and read topics, in its group, but write none: the first result it sends is
    refused, and the worker ends with the line, its input uncommitted (read again later)."""
    prefix = f"f{uuid.uuid4().hex[:8]}"
    admin = _env(secured.admin, tmp_path, STREAMGRAPH_TOPIC_PREFIX=prefix)
    made = await asyncio.to_thread(_run, [STREAMGRAPH, "topics", TOPOLOGY], admin)
    assert made.returncode == 0, made.output
    await _one_event(secured.admin, f"{prefix}.{FUNCTION}.in")
    read_only = [
        *(Acl("bob", "topic", prefix, op, pattern="prefixed") for op in ("create", "read")),
        Acl("bob", "group", prefix, "read", pattern="prefixed"),
    ]
    secured.kafka.grant(read_only)
    try:
        bob = _env(secured.bob, tmp_path, STREAMGRAPH_TOPIC_PREFIX=prefix)
        ran = await asyncio.to_thread(_run, [STREAMGRAPH, "worker", TOPOLOGY], bob)
    finally:
        secured.kafka.revoke(read_only)
    _worker_line(ran, "denied User:bob", f"topic {prefix}.{FUNCTION}.")
    assert await _committed(secured.admin, f"{prefix}.{FUNCTION}") == {}


# -- the gateway ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, orjson.loads(refused.read())


def _gateway_reason(env: dict[str, str], *words: str) -> float:
    """Start a gateway; /readyz answers 503 with the refusal's line while /healthz stays 200
    and the process keeps running. The seconds until the reason showed."""
    port = _free_port()
    started = time.monotonic()
    popen = subprocess.Popen(
        [STREAMGRAPH, "gateway", TOPOLOGY, "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        reason = ""
        while time.monotonic() - started < LIMIT and "Kafka at" not in reason:
            time.sleep(0.25)
            try:
                status, body = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                continue
            assert status == 503, body
            reason = str(body["error"])
        took = time.monotonic() - started
        for word in words:
            assert word in reason, (word, reason)
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert popen.poll() is None  # it keeps serving health (and retries, every 15 s)
        return took
    finally:
        popen.terminate()
        output = popen.communicate(timeout=30)[0].decode(errors="replace")
        OUTPUTS.append(output)
        assert "Traceback" not in output, output


def test_gateways_stay_up_not_ready_saying_why(secured: Secured, tmp_path: Path) -> None:
    brokers = secured.admin["STREAMGRAPH_BROKERS"]
    cases = [
        (_env(secured.admin, tmp_path, STREAMGRAPH_KAFKA_SASL_PASSWORD=WRONG_PASSWORD),
         (brokers, "refused the login", "user admin")),
        (_env(secured.bob, tmp_path), (brokers, "denied User:bob", "topic ")),
    ]  # fmt: skip
    with ThreadPoolExecutor(len(cases)) as pool:
        took = list(pool.map(lambda c: _gateway_reason(c[0], *c[1]), cases))
    assert max(took) < LIMIT, took


async def test_a_plain_login_logged_at_debug_shows_no_password(
    secured: Secured, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka logs each request at DEBUG; a PLAIN login's holds the password in the clear."""
    env = dict(secured.admin, STREAMGRAPH_KAFKA_SASL_MECHANISM="PLAIN")
    caplog.set_level(logging.DEBUG, logger="aiokafka")
    await check_reachable(env["STREAMGRAPH_BROKERS"], security=security_of_env(env))
    assert "SaslAuthenticateRequest_v1(<redacted>)" in caplog.text
    OUTPUTS.append(caplog.text)


def test_no_output_shows_a_password(secured: Secured) -> None:
    """What this worker captured, searched again (each output was searched as it was taken)."""
    assert list(secured.secrets) == SECRETS
    for output in OUTPUTS:
        for secret in secured.secrets:
            assert secret not in output
