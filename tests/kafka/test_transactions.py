"""PartitionTransactions on the real broker: a failed transaction is redone once, never twice.

A failure is injected in two places: inside the transaction (it is aborted, the partition's
producer restarted, the offset read back shows it did not commit, the batch is redone), and
after a commit whose answer is "lost" (the offset read back shows it committed: not redone).
Either way a read_committed reader sees the batch's record exactly once and the group's offset
is the batch's.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from workers import reading

from streamgraph.connection.kafka_security import KafkaSecurity, kafka_security
from streamgraph.core.event import Event
from streamgraph.engines.kafka.executor import Emission
from streamgraph.engines.kafka.state.state_table import StateTable
from streamgraph.engines.kafka.state.step_states import StepStates
from streamgraph.engines.kafka.transactions import PartitionTransactions, current_sender
from streamgraph.settings import Settings

pytestmark = pytest.mark.kafka


def _security() -> KafkaSecurity:
    """The clients' security as the environment sets it (PLAINTEXT on the test broker)."""
    return kafka_security(Settings())


async def _setup(brokers: str) -> tuple[str, str, PartitionTransactions]:
    name = f"sgx{uuid.uuid4().hex[:8]}"
    source, out = f"{name}.in", f"{name}.out"
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 1, 1), NewTopic(out, 1, 1)])
    finally:
        await admin.close()
    options = {"bootstrap_servers": brokers}
    eos = PartitionTransactions(name, f"{name}.group", [source], options, {}, _security())
    await eos.on_assigned([TopicPartition(source, 0)])
    return source, out, eos


async def _committed(brokers: str, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    return offsets[tp].offset


async def _answers(brokers: str, topic: str) -> list[Any]:
    async with reading(brokers, topic, "read_committed") as consumer:
        batch = await consumer.getmany(timeout_ms=3000)  # one committed record at most
        return [m.value for messages in batch.values() for m in messages]


async def _send(body: dict[str, Any], topic: str) -> None:
    sender = current_sender.get()
    assert sender is not None, "work runs inside a transaction"
    await sender.send(Emission(topic, Event(body)))


async def test_a_transaction_failing_inside_is_aborted_and_redone(kafka_broker: Any) -> None:
    brokers = kafka_broker.bootstrap_servers
    source, out, eos = await _setup(brokers)
    runs = 0

    async def work() -> None:
        nonlocal runs
        runs += 1
        await _send({"run": runs}, out)
        if runs == 1:
            raise KafkaConnectionError("injected: the broker went away mid-transaction")

    try:
        assert await asyncio.wait_for(eos.run(source, 0, 7, work), 60)
    finally:
        await eos.stop()
    assert runs == 2 and eos.aborts >= 1 and eos.commits == 1
    assert await _committed(brokers, eos.group_id, TopicPartition(source, 0)) == 7
    answers = await _answers(brokers, out)
    assert len(answers) == 1 and b'"run":2' in answers[0], answers  # the aborted one unseen


async def test_a_commit_whose_answer_was_lost_is_not_redone(kafka_broker: Any) -> None:
    brokers = kafka_broker.bootstrap_servers
    source, out, eos = await _setup(brokers)
    runs = 0
    part = eos._partitions[(source, 0)]  # the partition's producer, started by on_assigned
    commit = part.producer.commit_transaction

    async def commit_then_fail() -> None:
        await commit()
        raise KafkaConnectionError("injected: the commit's answer was lost")

    part.producer.commit_transaction = commit_then_fail  # type: ignore[method-assign]

    async def work() -> None:
        nonlocal runs
        runs += 1
        await _send({"run": runs}, out)

    try:
        assert await asyncio.wait_for(eos.run(source, 0, 3, work), 60)
    finally:
        await eos.stop()
    assert runs == 1 and eos.aborts >= 1 and eos.commits == 1
    assert await _committed(brokers, eos.group_id, TopicPartition(source, 0)) == 3
    assert len(await _answers(brokers, out)) == 1


async def test_a_failed_transactions_state_changes_are_undone_before_the_redo(
    kafka_broker: Any,
) -> None:
    """A Merge's entries under exactly_once (state_table.py): the redo of a failed transaction
    sees the state as it committed, not with the failed attempt's changes."""
    brokers = kafka_broker.bootstrap_servers
    source, out, eos = await _setup(brokers)
    table = StateTable(f"{source}.state-changelog", brokers, _security())
    states = StepStates()
    states.by_topic[source] = table
    eos.restore = states.restore
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(table.changelog, 1, 1)])
    finally:
        await admin.close()
    seen: list[dict[bytes, bytes]] = []

    async def first() -> None:
        table[b"k"] = b"one"

    async def second() -> None:
        seen.append(dict(table.data))  # what this attempt starts from
        del table[b"k"]
        table[b"j"] = b"two"
        await _send({"run": len(seen)}, out)
        if len(seen) == 1:
            raise KafkaConnectionError("injected: the broker went away mid-transaction")

    try:
        assert await asyncio.wait_for(eos.run(source, 0, 1, _in(states, source, first)), 60)
        assert await asyncio.wait_for(eos.run(source, 0, 2, _in(states, source, second)), 60)
    finally:
        await eos.stop()
    assert seen == [{b"k": b"one"}, {b"k": b"one"}], "the redo starts from the committed state"
    assert table.data == {b"j": b"two"}
    restored = StateTable(table.changelog, brokers, _security())
    await asyncio.wait_for(restored.restore([0]), 60)
    assert restored.data == {b"j": b"two"}, "the changelog holds what committed, no more"


def _in(states: StepStates, topic: str, work: Any) -> Any:
    async def run() -> None:
        async def step() -> list[Any]:
            await work()
            return []

        await states.run(topic, 0, step, None)  # (None: the transaction's sender)

    return run
