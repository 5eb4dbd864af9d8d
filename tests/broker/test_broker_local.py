"""LocalKafka: starts, serves aiokafka, stops without leaving a process, fails with its log."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamgraph.broker import BrokerError, LocalKafka
from streamgraph.broker.config import broker_settings
from streamgraph.broker.jvm_process import pid_alive
from streamgraph.broker.probe import HOST, answers_api_versions
from streamgraph.broker.pytest_plugin import KafkaBroker


@pytest.mark.kafka
async def test_produce_and_consume(kafka_broker: KafkaBroker) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"body", key=b"id-1", headers=[("sg-path", b"/x")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            record = await consumer.getone()
    except TimeoutError:
        raise AssertionError(f"no record from topic {topic} within 60 s") from None
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.headers) == (b"id-1", b"body", (("sg-path", b"/x"),))


@pytest.mark.kafka
async def test_the_broker_runs_with_our_settings() -> None:
    # a broker of its own: the session's may be someone else's (STREAMGRAPH_TEST_BROKERS)
    with LocalKafka() as kafka:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        await admin.start()
        try:
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, "1")]
            )
        finally:
            await admin.close()
    entries = response.resources[0][4]  # (name, value, read_only, source, sensitive, synonyms)
    effective = {entry[0]: entry[1] for entry in entries}
    # every setting we pass is a real broker config, and in force (a typo would be ignored)
    assert {key: effective.get(key) for key in broker_settings(1)} == broker_settings(1)


@pytest.mark.kafka
def test_stop_leaves_no_process_and_no_listener() -> None:
    kafka = LocalKafka()
    with kafka:
        [pid] = kafka.pids
        [port] = kafka.ports
        data_dir = kafka.data_dir
        assert pid_alive(pid)
        assert answers_api_versions(HOST, port)
        assert kafka.bootstrap_servers == f"{HOST}:{port}"
    assert not pid_alive(pid)
    assert kafka.pids == []
    assert not answers_api_versions(HOST, port)
    assert not data_dir.exists()  # the temporary data folder goes with it
    kafka.stop()  # idempotent


@pytest.mark.kafka
def test_a_broker_that_dies_while_starting_raises_with_its_log() -> None:
    kafka = LocalKafka(heap_mb=16)  # too small: the JVM exits on OutOfMemoryError
    with pytest.raises(BrokerError, match="exited with code") as info:
        kafka.start()
    assert "OutOfMemoryError" in info.value.log_tail
    assert "OutOfMemoryError" in str(info.value)
    assert kafka.pids == []


def test_a_given_port_that_is_taken_is_refused_before_any_jvm(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} .* in use"):
            LocalKafka(port=port, data_dir=tmp_path).start()


def test_the_fixture_fails_rather_than_skips_when_kafka_cannot_start(tmp_path: Path) -> None:
    # A cache holding a bogus broker jar: found, so no Maven call, but nothing can run from it.
    libs = tmp_path / "home" / "4.4.0" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.4.0.jar").write_bytes(b"not a jar")
    test_file = tmp_path / "test_inner.py"
    test_file.write_text("def test_needs_kafka(kafka_broker):\n    pass\n")
    env = {**os.environ, "STREAMGRAPH_KAFKA_HOME": str(tmp_path / "home")}
    env.pop("STREAMGRAPH_TEST_BROKERS", None)
    env.pop("STREAMGRAPH_TEST_KAFKA", None)
    command = [sys.executable, "-m", "pytest", "-p", "streamgraph.broker.pytest_plugin"]
    command += ["-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull]
    done = subprocess.run(
        [*command, str(test_file)], capture_output=True, text=True, env=env, timeout=120
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 error" in out and "skipped" not in out, out
    assert "did not start" in out and "StorageTool" in out, out


@pytest.mark.kafka
@pytest.mark.parametrize("ending", ["exits without stop()", "is SIGKILLed"])
def test_no_jvm_outlives_the_python_process_that_started_it(ending: str) -> None:
    script = "from streamgraph.broker import LocalKafka\nprint(LocalKafka().start().pids[0])\n"
    if ending == "is SIGKILLed":
        script += "import time\ntime.sleep(120)\n"
    python = subprocess.Popen(
        [sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, text=True
    )
    assert python.stdout is not None
    jvm = int(python.stdout.readline())
    assert pid_alive(jvm)
    if ending == "is SIGKILLed":
        python.kill()  # no atexit: the parent-death signal must take the JVM down
    python.wait(60)
    python.stdout.close()
    deadline = time.monotonic() + 15
    while pid_alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(jvm)
