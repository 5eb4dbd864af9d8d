"""processing_guarantee="exactly_once": what Faust's Kafka transactions really do.

faust-streaming 0.15.3 picks a record's transactional producer from the record's *destination*
topic and partition, looked up in the worker's own consumer metadata
(`TransactionManager.send` -> `Consumer.key_partition`). A topic the worker does not consume is
not in that metadata, so `key_partition` returns None and the record goes out through the plain,
non-transactional producer. Every streamgraph function ends in such topics (`.out`, reply
topics, `.dlq`), so their records are outside any transaction: after a crash the redone inputs
write them again, and `read_committed` readers see the duplicates. (Records to consumed topics
do go into a transaction, but into the one of the destination partition, while the input's
offset is committed in the transaction of the source partition: the two are not atomic either.)

So streamgraph does not use Faust's transactions: it runs its own, per input partition
(streamgraph/engines/kafka/transactions.py). The first test pins Faust's behaviour down on the
real broker; the crash tests interrupt a streamgraph worker mid-stream (SIGKILL, a rebalance, a
broker stopped or killed) and count its answers with a read_committed reader.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import chain_topology
import merge_topology
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from workers import WorkerFactory, collect, produce, reading

import streamgraph as sg
from streamgraph.broker import LocalKafka
from streamgraph.engines.kafka import KafkaGraph
from streamgraph.errors import StreamgraphError
from streamgraph.settings import Settings

pytestmark = pytest.mark.kafka

HERE = Path(__file__).parent
FAUST_WORKER = [sys.executable, "-m", "faust", "-A", "eos_faust_app", "worker", "-l", "info"]


async def _create_topics(brokers: str, names: list[str]) -> None:
    # created up front: a worker subscribed to a topic it had to create itself gets no
    # partitions of it until its metadata refreshes (minutes), and would process nothing
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4, 1) for name in names])
    finally:
        await admin.close()


def _start(factory: WorkerFactory) -> Any:
    if not factory.workers:
        topics = [factory.topic("eos", name) for name in ("in", "mid", "out")]
        asyncio.run(_create_topics(factory.brokers, topics))
    return factory.start("eos_faust_app", argv=[*FAUST_WORKER, "--without-web"])


def _records(total: int) -> list[tuple[bytes | None, bytes, list[Any]]]:
    return [(str(i).encode(), f"v{i}".encode(), []) for i in range(total)]


async def _markers(brokers: str, topic: str) -> tuple[int, int]:
    """(records, sum of log end offsets) of `topic`: the difference is its control records."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=brokers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        seen = 0
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, f"{topic} not read to its end within 60 s"
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(messages) for messages in batch.values())
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                return seen, sum(ends.values())
    finally:
        await consumer.stop()


def test_faust_writes_unconsumed_topics_outside_any_transaction(factory: WorkerFactory) -> None:
    """Observed behaviour: `mid` (consumed) carries commit markers, `out` (not consumed) none."""
    total = 400
    _start(factory)
    asyncio.run(produce(factory.brokers, factory.topic("eos", "in"), _records(total)))
    out = factory.topic("eos", "out")
    done = asyncio.run(collect(factory.brokers, out, total, 120, isolation_level="read_committed"))
    assert len(done) == total
    factory.workers[0].stop()  # commits what is left: every transaction is closed now
    mid_records, mid_end = asyncio.run(_markers(factory.brokers, factory.topic("eos", "mid")))
    out_records, out_end = asyncio.run(_markers(factory.brokers, out))
    assert mid_records == total and mid_end > mid_records, "mid is written in transactions"
    # the bug: no marker at all in `out`, so none of its records was part of a transaction
    assert (out_records, out_end) == (total, total)


def test_exactly_once_refuses_graphs_whose_state_cannot_join_the_transaction() -> None:
    batch = sg.new_function("batch")
    batch.set_topology("flow").to("storey.Batch", name="b", max_events=2)
    with pytest.raises(StreamgraphError, match=r"Batch steps \(b\): a Batch step holds"):
        KafkaGraph(batch, Settings(processing_guarantee="exactly_once"))
    first_merge = sg.new_function("first-merge")
    graph = first_merge.set_topology("flow")
    graph.add_step("mlrun.serving.Merge", name="join", expected_num_events=2)  # + the entry
    with pytest.raises(StreamgraphError, match="merge step join, which reads several topics"):
        KafkaGraph(first_merge, Settings(processing_guarantee="exactly_once"))
    chain = chain_topology.build_function()
    with pytest.raises(StreamgraphError, match="needs lean_transport=true"):
        KafkaGraph(chain, Settings(processing_guarantee="exactly_once", lean_transport=False))
    assert KafkaGraph(chain, Settings(processing_guarantee="exactly_once")).eos is not None
    # a Merge's table is streamgraph's own (state_table.py), not Faust's
    merged = KafkaGraph(
        merge_topology.build_function(), Settings(processing_guarantee="exactly_once")
    )
    assert list(merged.states.by_topic) == [merged.topology.step_topics["join"]]
    assert not merged.app.tables, "no Faust table: its changelog would bypass the transactions"
    two_starts = sg.new_function("two")
    graph = two_starts.set_topology("flow")
    graph.add_step(name="a", handler="(event)")
    graph.add_step(name="b", handler="(event)")  # both read the entry topic
    with pytest.raises(
        StreamgraphError, match=r"several steps read one topic \(sg\.two\.in: a, b\)"
    ):
        KafkaGraph(two_starts, Settings(processing_guarantee="exactly_once"))


TOTAL = 2_000
RATE = 400  # events/s: the feed lasts 5 s, the crash comes while it runs


def _chain_answer(answer: dict[str, Any]) -> bool:
    return answer["steps"] == ["parse", "score", "finish"] and answer["score"] == 2 * answer["n"]


def _merge_answer(answer: dict[str, Any]) -> bool:
    # both branches joined: left (2n) and right (3n) summed after the Merge
    return answer["sum"] == 5 * answer["n"]


# the crash tests' flows: chain_topology (three steps) and merge_topology (a Merge's table)
FLOWS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "chain": _chain_answer,
    "merge": _merge_answer,
}


async def _read_committed(
    brokers: str,
    flow: str,
    topic: str,
    until: Callable[[int], bool],
    timeout: float,
    settle: float = 3.0,
) -> Counter[int]:
    """Answers per event number on `topic` (read_committed, from the start) until `until(n)`
    holds for n distinct events, then `settle` s more of reading, to catch late duplicates."""
    seen: Counter[int] = Counter()
    deadline = time.monotonic() + timeout
    settled: float | None = None
    async with reading(brokers, topic, "read_committed") as consumer:
        while time.monotonic() < (settled or deadline):
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    answer = orjson.loads(message.value)
                    assert FLOWS[flow](answer), answer
                    seen[answer["n"]] += 1
            if settled is None and until(len(seen)):
                settled = time.monotonic() + settle
    return seen


async def _feed_and_interrupt(
    factory: WorkerFactory,
    interrupt: Callable[[], Awaitable[None]],
    rate: int = RATE,
    flow: str = "chain",
) -> int:
    """Produce TOTAL events at `rate`; await `interrupt` once a quarter are answered.

    Returns how many events were answered (committed) before the interruption."""
    entry, out = factory.topic(flow, "in"), factory.topic(flow, "out")
    # idempotent: a send retried across a broker restart must not write an input twice (a
    # killed broker that wrote a batch but never answered left event 625 twice in `in`)
    producer = AIOKafkaProducer(
        bootstrap_servers=factory.brokers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:

        async def feed() -> None:
            started = time.monotonic()
            for i in range(TOTAL):
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
                await producer.send(entry, orjson.dumps({"n": i}), key=str(i).encode())
            await producer.flush()

        feeding = asyncio.ensure_future(feed())
        before = await _read_committed(
            factory.brokers, flow, out, lambda n: n >= TOTAL // 4, 60, 0.0
        )
        assert len(before) >= TOTAL // 4, f"only {len(before)} answers within 60 s"
        assert not feeding.done(), "the crash must come mid-stream"
        await interrupt()
        await asyncio.wait_for(feeding, 90)
        return len(before)
    finally:
        await producer.stop()


@pytest.mark.parametrize("flow", FLOWS)
def test_exactly_once_survives_a_worker_crash(factory: WorkerFactory, flow: str) -> None:
    """2,000 events through three steps (or a flow with a Merge); SIGKILL mid-stream; restart:
    one answer per event."""
    factory.env["STREAMGRAPH_PROCESSING_GUARANTEE"] = "exactly_once"
    first = factory.start(f"{flow}_topology")

    async def kill() -> None:
        first.kill()

    answered = asyncio.run(_feed_and_interrupt(factory, kill, flow=flow))
    second = factory.start(f"{flow}_topology")
    _assert_each_answered_once(factory, "the worker's SIGKILL", answered, flow)
    # where the restarted worker resumed: the offsets its predecessor's transactions committed
    assert "reading from the group's committed offsets" in second.log()


@pytest.mark.parametrize("flow", FLOWS)
def test_exactly_once_holds_across_a_rebalance_and_a_crash(
    factory: WorkerFactory, flow: str
) -> None:
    """A second worker joins mid-stream (half the partitions move to it, its producers fence
    the first worker's), then the first is SIGKILLed (the second takes every partition)."""
    factory.env["STREAMGRAPH_PROCESSING_GUARANTEE"] = "exactly_once"
    first = factory.start(f"{flow}_topology")
    taken_over: list[bool] = []

    def join_then_kill() -> None:
        second = factory.start(f"{flow}_topology")
        deadline = time.monotonic() + 30
        while "transactional producers ready" not in second.log():
            assert time.monotonic() < deadline, "the second worker got no partitions in 30 s"
            time.sleep(0.1)
        time.sleep(1.0)  # both workers at work
        first.kill()
        taken_over.append(True)

    # 150 events/s: the feed lasts 13 s, longer than the second worker's start
    async def interrupt() -> None:
        await asyncio.to_thread(join_then_kill)  # the feed goes on while the second starts

    answered = asyncio.run(_feed_and_interrupt(factory, interrupt, rate=150, flow=flow))
    assert taken_over
    _assert_each_answered_once(
        factory, "a rebalance, then the first worker's SIGKILL", answered, flow
    )


def test_at_least_once_merge_state_survives_a_worker_crash(factory: WorkerFactory) -> None:
    """The same crash at_least_once: the Merge's entries come back from the changelog when the
    restarted worker is assigned the partitions (Faust's signal), so no event is lost;
    answers may be doubled."""
    first = factory.start("merge_topology")

    async def kill() -> None:
        first.kill()

    answered = asyncio.run(_feed_and_interrupt(factory, kill, flow="merge"))
    second = factory.start("merge_topology")
    out = factory.topic("merge", "out")
    seen = asyncio.run(_read_committed(factory.brokers, "merge", out, lambda n: n >= TOTAL, 150))
    missing = sorted(set(range(TOTAL)) - set(seen))
    print(
        f"at_least_once (merge), the worker's SIGKILL: {answered} answered before it; "
        f"{len(missing)} lost, {sum(seen.values()) - len(seen)} duplicate answers"
    )
    assert not missing, f"{len(missing)} events lost, e.g. {missing[:10]}"
    assert "restored" in second.log(), "the restarted worker read the Merge's changelog"


def _assert_each_answered_once(
    factory: WorkerFactory, what: str, answered: int, flow: str = "chain"
) -> None:
    out = factory.topic(flow, "out")
    seen = asyncio.run(_read_committed(factory.brokers, flow, out, lambda n: n >= TOTAL, 150))
    missing = sorted(set(range(TOTAL)) - set(seen))
    doubled = {n: c for n, c in seen.items() if c > 1}
    print(
        f"exactly_once ({flow}), {what}: {answered} answered before it; in the end {len(seen)} of "
        f"{TOTAL} events answered, {len(missing)} lost, "
        f"{sum(doubled.values()) - len(doubled)} duplicate answers"
    )
    assert not missing, f"{len(missing)} events lost, e.g. {missing[:10]}"
    assert not doubled, f"{len(doubled)} events answered twice or more, e.g. {list(doubled)[:10]}"


@pytest.mark.timeout(600)  # a broker of its own, stopped and started again: over the default
# a broker JVM of its own restarting, and 400 events/s to keep up with: under the parallel
# stage's load its worker once answered nothing in 60 s (tests/run_suite.py runs it alone)
@pytest.mark.serial
@pytest.mark.parametrize(("how", "flow"), [("stop", "chain"), ("kill", "chain"), ("kill", "merge")])
def test_exactly_once_survives_a_broker_restart(
    own_broker: LocalKafka, tmp_path: Path, how: str, flow: str
) -> None:
    """2,000 events through three steps (or a flow with a Merge); the broker stopped (SIGTERM)
    or killed (SIGKILL) mid-stream, 3 s down, then started again on the same port with the
    same data."""
    factory = WorkerFactory(own_broker.bootstrap_servers, tmp_path / "workers")
    factory.env["PYTHONPATH"] = str(HERE)
    factory.env["STREAMGRAPH_PROCESSING_GUARANTEE"] = "exactly_once"
    try:
        worker = factory.start(f"{flow}_topology")

        async def restart() -> None:
            down = own_broker.stop_node if how == "stop" else own_broker.kill_node
            await asyncio.to_thread(down, 0)
            await asyncio.sleep(3)
            # the same port, the same data; started on this thread: the broker is tied to the
            # thread that starts it (setpriv --pdeathsig), and to_thread's would end first
            own_broker.start_node(0)

        answered = asyncio.run(_feed_and_interrupt(factory, restart, flow=flow))
        _assert_each_answered_once(factory, f"a broker restart ({how})", answered, flow)
        assert worker.process.poll() is None, "the worker must survive the restart"
    finally:
        factory.close()
