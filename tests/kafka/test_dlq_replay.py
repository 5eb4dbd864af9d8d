"""`streamgraph dlq replay`: dead letters go back to the step they failed in, once per replay.

A replay reads the dead-letter topic up to its end as the replay starts: a record that fails again
lands after that end and waits for the next replay (a replay once re-sent it forever).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from workers import body, collect, produce

import streamgraph as sg
from streamgraph.engines.kafka.dlq import DeadLetterReplay, ReplayReport, replay_dead_letters
from streamgraph.errors import StreamgraphError
from streamgraph.settings import Settings
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

# a replay that has not returned by then never would: the test fails instead of hanging
BOUND = 60.0
# the function of the tests that write dead letters themselves (no worker runs it)
FN = "orphan"

state = {"broken": True}


def flaky(event: dict[str, Any]) -> dict[str, Any]:
    if state["broken"]:
        raise RuntimeError("the model is down")
    return {**event, "fixed": True}


def picky(event: dict[str, Any]) -> dict[str, Any]:
    """Fails while broken, and on {"n": "x"} always."""
    if state["broken"] or event["n"] == "x":
        raise ValueError(f"cannot take {event['n']!r}")
    return {**event, "fixed": True}


def _serve(name: str, handler: str, kafka_broker: Any) -> Any:
    fn = sg.new_function(name, namespace={"flaky": flaky, "picky": picky})
    fn.set_topology("flow").to(name="prep", handler="(event)").to(name="model", handler=handler)
    return serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)


def _replay(settings: Settings, **options: Any) -> tuple[ReplayReport, float]:
    """The report of one replay, and how long it took."""
    started = time.monotonic()
    report = asyncio.run(asyncio.wait_for(replay_dead_letters(FN, settings, **options), BOUND))
    return report, time.monotonic() - started


def _cli(*args: str, settings: Settings) -> list[str]:
    return [sys.executable, "-m", "streamgraph.cli", "dlq", "replay", *args,
            "--brokers", settings.brokers]  # fmt: skip


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "STREAMGRAPH_TOPIC_PREFIX": settings.topic_prefix}


async def _topics(brokers: str, *topics: tuple[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in topics])
    finally:
        await admin.close()


def _fresh(kafka_broker: Any) -> Settings:
    """Settings with a topic prefix of the test's own."""
    return Settings(
        brokers=kafka_broker.bootstrap_servers, topic_prefix=f"dlq{uuid.uuid4().hex[:8]}"
    )


def _dead_letters(settings: Settings, target: str, count: int) -> None:
    """`count` dead letters of FN whose origin is `target` (both topics created)."""
    dlq = settings.topic(FN, "dlq")
    asyncio.run(_topics(settings.brokers, (dlq, 1), (target, 1)))
    headers: list[Any] = [("sg-origin-topic", target.encode()), ("sg-error", b"boom")]
    records: list[tuple[bytes | None, bytes, list[Any]]] = [
        (f"k{i}".encode(), b'{"n": %d}' % i, headers) for i in range(count)
    ]
    asyncio.run(produce(settings.brokers, dlq, records))


def test_replay_after_a_fix(kafka_broker: Any) -> None:
    state["broken"] = True
    server = _serve("flaky", "flaky", kafka_broker)
    settings = server.settings
    try:
        for i in range(5):
            server.test(body={"n": i})
        dead = asyncio.run(collect(settings.brokers, settings.topic("flaky", "dlq"), 5, 30))
        assert [dict(m.headers)["sg-origin-topic"].decode() for m in dead] == [
            settings.topic("flaky", "model")
        ] * 5

        state["broken"] = False  # the fix
        report = asyncio.run(
            replay_dead_letters("flaky", settings, idle_seconds=1.0, settle_seconds=2)
        )
        assert report.replayed == {settings.topic("flaky", "model"): 5}
        assert report.failed_again == 0 and report.watched_seconds is not None
        out = asyncio.run(collect(settings.brokers, settings.topic("flaky", "out"), 5, 30))
        assert sorted(body(m)["n"] for m in out) == list(range(5))
        assert all(body(m)["fixed"] for m in out)

        # a second replay finds nothing new (the first one committed)
        again = subprocess.run(
            [sys.executable, "-m", "streamgraph.cli", "dlq", "replay", "flaky", "--idle", "1",
             "--brokers", settings.brokers],
            capture_output=True, text=True, timeout=60, check=True,
            env={"STREAMGRAPH_TOPIC_PREFIX": settings.topic_prefix, "PATH": ""},
        )  # fmt: skip
        assert "replayed 0 dead letters of flaky" in again.stdout
        server.wait_for_completion()
    finally:
        server.close()


def test_a_record_that_fails_again_is_resent_once_per_replay(kafka_broker: Any) -> None:
    state["broken"] = False
    server = _serve("stubborn", "picky", kafka_broker)
    settings = server.settings
    dlq, model = settings.topic("stubborn", "dlq"), settings.topic("stubborn", "model")
    try:
        server.test(body={"n": "x"})
        server.test(body={"n": 1})
        [dead] = asyncio.run(collect(settings.brokers, dlq, 1, 30))
        for turn in (1, 2):
            started = time.monotonic()
            report = asyncio.run(
                asyncio.wait_for(
                    replay_dead_letters("stubborn", settings, settle_seconds=30), BOUND
                )
            )
            # re-sent once; the watch ends as soon as it came back, long before its 30 s
            assert report.replayed == {model: 1}
            assert report.failed_again == 1
            assert time.monotonic() - started < 20
            # and back in the dead-letter topic, for the next replay
            back = asyncio.run(collect(settings.brokers, dlq, turn + 1, 30))
            assert [m.key for m in back] == [dead.key] * (turn + 1)
        # the model's topic: the request, then one re-send per replay (and n=1 once)
        sent = asyncio.run(collect(settings.brokers, model, 5, 3))
        assert sorted(str(body(m)["n"]) for m in sent) == ["1", "x", "x", "x"]
    finally:
        server.close()


def test_the_summary_counts_replayed_failed_again_and_skipped(kafka_broker: Any) -> None:
    state["broken"] = True
    server = _serve("mixed", "picky", kafka_broker)
    settings = server.settings
    dlq, model = settings.topic("mixed", "dlq"), settings.topic("mixed", "model")
    try:
        for n in (0, 1, "x"):
            server.test(body={"n": n})
        asyncio.run(collect(settings.brokers, dlq, 3, 30))
        # one from an older worker, with no origin topic: skipped
        asyncio.run(produce(settings.brokers, dlq, [(b"old", b"{}", [("sg-error", b"old")])]))
        state["broken"] = False  # the fix, for all but "x"
        done = subprocess.run(
            _cli("mixed", "--settle", "8", settings=settings),
            capture_output=True, text=True, timeout=BOUND, env=_env(settings),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[:2] == [
            f"       3 -> {model}",
            "replayed 3 dead letters of mixed; skipped 1 (no origin topic)",
        ]
        assert re.fullmatch(
            rf"failed again 1 \(back in {re.escape(dlq)} within [\d.]+ s; left for the next "
            r"replay\)",
            lines[2],
        ), lines
        assert len(lines) == 3
        assert "replaying up to 4 dead letters" in done.stderr  # progress goes to stderr
        out = asyncio.run(collect(settings.brokers, settings.topic("mixed", "out"), 2, 30))
        assert sorted(body(m)["n"] for m in out) == [0, 1]
    finally:
        server.close()


def test_a_replay_with_nothing_to_do_returns_at_once(kafka_broker: Any) -> None:
    settings = _fresh(kafka_broker)
    asyncio.run(_topics(settings.brokers, (settings.topic(FN, "dlq"), 3)))
    report, seconds = _replay(settings, idle_seconds=30)
    assert report == ReplayReport()
    assert seconds < 5

    # and a function that never ran there is said so, at once
    other = Settings(brokers=settings.brokers, topic_prefix=f"{settings.topic_prefix}x")
    with pytest.raises(StreamgraphError, match=rf"no dead-letter topic dlq\w+x\.{FN}\.dlq"):
        _replay(other)


def test_a_transactional_dead_letter_topic_ends_at_its_commit_markers(kafka_broker: Any) -> None:
    """An exactly_once worker writes dead letters in transactions: each partition's end is past
    a commit marker no consumer sees, which the replay must count as reached."""
    settings = _fresh(kafka_broker)
    dlq, target = settings.topic(FN, "dlq"), settings.topic(FN, "model")
    asyncio.run(_topics(settings.brokers, (dlq, 2), (target, 1)))
    headers = [("sg-origin-topic", target.encode()), ("sg-error", b"boom")]

    async def write() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.brokers, transactional_id=f"{dlq}.writer"
        )
        await producer.start()
        try:
            await producer.begin_transaction()
            for i in range(2):
                await producer.send(dlq, b'{"aborted": 1}', key=b"a%d" % i, partition=i)
            await producer.abort_transaction()
            async with producer.transaction():
                for i in range(4):
                    await producer.send(
                        dlq, b"{}", key=b"k%d" % i, headers=headers, partition=i % 2
                    )
        finally:
            await producer.stop()

    asyncio.run(write())
    report, seconds = _replay(settings, idle_seconds=30, settle_seconds=0)
    assert report.replayed == {target: 4}  # the aborted two are not dead letters
    assert seconds < 10  # (waiting for the markers would take the 30 s idle bound)
    report, seconds = _replay(settings, idle_seconds=30, settle_seconds=0)
    assert report.total == 0 and seconds < 10  # committed past the markers
    sent = asyncio.run(collect(settings.brokers, target, 5, 3))
    assert sorted(m.key for m in sent) == [b"k0", b"k1", b"k2", b"k3"]


async def test_an_interrupted_replay_commits_what_it_delivered(kafka_broker: Any) -> None:
    settings = _fresh(kafka_broker)
    target = settings.topic(FN, "model")
    await asyncio.to_thread(_dead_letters, settings, target, 2500)
    task: asyncio.Task[ReplayReport] | None = None

    def progress(line: str) -> None:  # called after the first batch was sent, not yet delivered
        if "read" in line and task is not None:
            task.cancel()

    replay = DeadLetterReplay(FN, settings, settle_seconds=0, progress=progress, progress_seconds=0)
    task = asyncio.create_task(replay.run())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), BOUND)
    first = replay.report
    assert first.interrupted and 0 < first.total < 2500

    second = await asyncio.wait_for(replay_dead_letters(FN, settings, settle_seconds=0), BOUND)
    assert not second.interrupted
    assert first.total + second.total == 2500  # nothing twice, nothing lost
    sent = await collect(settings.brokers, target, 2501, 3)
    assert len(sent) == 2500


def test_ctrl_c_prints_the_summary_and_exits_130(kafka_broker: Any, tmp_path: Path) -> None:
    settings = _fresh(kafka_broker)
    target = settings.topic(FN, "model")  # no worker there: nothing comes back, the watch waits
    _dead_letters(settings, target, 3)
    log = tmp_path / "stderr"
    with log.open("w") as err:
        popen = subprocess.Popen(
            _cli(FN, "--settle", "120", settings=settings),
            stdout=subprocess.PIPE, stderr=err, text=True, env=_env(settings),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + BOUND
            while "watching" not in log.read_text() and time.monotonic() < deadline:
                assert popen.poll() is None, log.read_text()
                time.sleep(0.1)
            popen.send_signal(signal.SIGINT)
            out, _ = popen.communicate(timeout=30)
        finally:
            if popen.poll() is None:
                popen.kill()
    assert popen.returncode == 130, log.read_text()
    lines = out.splitlines()
    assert lines[:2] == [
        f"       3 -> {target}",
        f"interrupted: replayed 3 dead letters of {FN}; skipped 0 (no origin topic)",
    ]
    assert lines[2].startswith("failed again 0 ("), lines
    errors = log.read_text()
    assert "Traceback" not in errors and "Aborted" not in errors, errors
    report, _ = _replay(settings, settle_seconds=0)
    assert report.total == 0  # the interrupted replay committed what it delivered
