"""Every internal of faust-streaming, mode and aiokafka that streamgraph overrides or reads.

streamgraph's lean transport (transport.py, batches.py) copies and overrides private members of
faust-streaming 0.15; a few other places read private attributes. pyproject.toml pins the
versions these were written against (`~=`), and `UPSTREAM` below names each member with why it
is used and a fingerprint of its source. tests/kafka/test_upstream_fingerprints.py recomputes
the fingerprints and fails naming every member whose source changed: after an upgrade, re-read
each named member against the code that depends on it, then update the fingerprint.

    .venv/bin/python -m streamgraph.engines.kafka.upstream    # prints the current fingerprints

A fingerprint is the sha256 of the member's source parsed and unparsed by `ast` with docstrings
removed: comments, formatting and docstrings do not count, any change of code does. A private
attribute (such as `Conductor._tp_index`) is fingerprinted through the code that defines or fills
it. `lean_transport=false` (settings.py) runs without any of the overrides.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

__all__ = ["UPSTREAM", "Upstream", "changed", "fingerprint", "resolve"]


@dataclass(frozen=True)
class Upstream:
    """One upstream member: `target` is `module:Qual.name`; `used_by` names our code."""

    target: str
    used_by: str
    why: str
    fingerprint: str


def resolve(target: str) -> Any:
    """The object `module:Qual.name` names (AttributeError/ImportError if it is gone)."""
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = inspect.getattr_static(obj, part) if inspect.isclass(obj) else getattr(obj, part)
    return obj


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def fingerprint(obj: Any) -> str:
    """sha256 (16 hex digits) of `obj`'s normalised source: code only, no comments or docs."""
    if isinstance(obj, property):
        obj = obj.fget
    if type(obj).__name__ == "ServiceTask":  # mode's @Service.task wrapper
        obj = obj.fun
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    source = textwrap.dedent(inspect.getsource(obj))
    normalised = ast.unparse(_strip_docstrings(ast.parse(source)))
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


def changed(members: tuple[Upstream, ...] | None = None) -> list[str]:
    """One line per member that is gone or whose source changed, naming it and its user."""
    problems = []
    for member in UPSTREAM if members is None else members:
        try:
            now = fingerprint(resolve(member.target))
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            problems.append(f"{member.target} is gone ({exc!r}); used by {member.used_by}")
            continue
        if now != member.fingerprint:
            problems.append(
                f"{member.target} changed (fingerprint {member.fingerprint} -> {now}); re-check "
                f"{member.used_by}: {member.why}"
            )
    return problems


_C = "faust.transport.consumer:Consumer"
_DRIVER = "faust.transport.drivers.aiokafka"
_HAND_OVER = "transport.LeanConsumer._hand_over"

UPSTREAM: tuple[Upstream, ...] = (
    # -- the consumer's drain loop (transport.LeanConsumer) -----------------------------------
    Upstream(
        f"{_C}._drain_messages",
        "transport.LeanConsumer._drain_messages",
        "copied with the direct hand-over added; keep the copy in step with it",
        "3e3742ba998ee65d",
    ),
    Upstream(
        f"{_C}.getmany",
        "transport.LeanConsumer.getmany",
        "copied without the per-record highwater lookup (monitor statistics only)",
        "6c19542375aa0e31",
    ),
    Upstream(
        f"{_C}._wait_next_records",
        "transport.LeanConsumer.getmany",
        "called to fetch from the consumer thread",
        "60045b9ed344563b",
    ),
    # -- exactly_once (transactions.py) through transport.LeanConsumer -----------------------
    Upstream(
        f"{_C}.on_partitions_assigned",
        "transport.LeanConsumer.on_partitions_assigned",
        "extended: the transactional producers start before Faust's assignment handling",
        "84a759484e250d46",
    ),
    Upstream(
        f"{_C}.on_partitions_revoked",
        "transport.LeanConsumer.on_partitions_revoked",
        "extended: at_least_once commits the acked offsets before Faust forgets them",
        "300755751685b025",
    ),
    Upstream(
        "faust.transport.consumer:ThreadDelegateConsumer._commit",
        "transport.LeanConsumer._commit",
        "overridden to commit nothing under exactly_once (every commit path ends here)",
        "0002b9f4debc8fe6",
    ),
    Upstream(
        f"{_DRIVER}:AIOKafkaConsumerThread.verify_event_path",
        "transport.LeanConsumer._commit",
        "reads tp_last_committed_at (the livelock warning), which _commit sets under exactly_once",
        "a1c821ef6912e138",
    ),
    Upstream(
        f"{_C}.perform_seek",
        "transport.LeanConsumer.perform_seek",
        "extended to log the positions (read from _read_offset) under exactly_once",
        "ad378ba620dcf859",
    ),
    Upstream(
        f"{_DRIVER}:AIOKafkaConsumerThread._create_worker_consumer",
        "consumer_thread.LeanConsumerThread._create_worker_consumer",
        "reads read_committed when the consumer's in_transaction is set (set for the call)",
        "23bdff27f6fe9ae5",
    ),
    # -- a worker Kafka refuses ends in one line (refusals.py) ---------------------------------
    Upstream(
        f"{_DRIVER}:Transport._create_topic",
        "transport.LeanTransport._create_topic",
        "extended: a topic the principal may not create ends the worker in one line",
        "e1f7f133f02daa27",
    ),
    Upstream(
        "faust.app.base:App.on_first_start",
        "transport.LeanApp.on_first_start",
        "extended with the preflight (a refused login or TLS handshake ends the worker)",
        "01b9c6efadad4e77",
    ),
    Upstream(
        "aiokafka.consumer.group_coordinator:GroupCoordinator._push_error_to_user",
        "refusals.pending_refusal",
        "reads _pending_exception, the error kept for getmany (which Faust never calls)",
        "8048ad3f633e2fc9",
    ),
    # -- the consumer thread's method queue (consumer_thread.py) ------------------------------
    Upstream(
        f"{_DRIVER}:Consumer._new_consumer_thread",
        "transport.LeanConsumer._new_consumer_thread",
        "overridden to build LeanConsumerThread with the same arguments",
        "877e2653465d6a07",
    ),
    Upstream(
        "mode.threads:QueueServiceThread.method_queue",
        "consumer_thread.LeanConsumerThread.method_queue",
        "overridden to build LeanMethodQueue; reads and sets _method_queue as the original",
        "4b60ea46aea67443",
    ),
    Upstream(
        "mode.threads:MethodQueueWorker._method_queue_do_work",
        "consumer_thread.LeanMethodQueueWorker._method_queue_do_work",
        "overridden without the wait on the ready flag; otherwise the same loop",
        "8df6f218030f7797",
    ),
    Upstream(
        "mode.threads:MethodQueue.__init__",
        "consumer_thread.LeanMethodQueueWorker._method_queue_do_work",
        "defines _queue, the queue the workers take the main loop's calls from",
        "5fd9734dc2aba9de",
    ),
    Upstream(
        "mode.threads:MethodQueue._process_enqueued",
        "consumer_thread.LeanMethodQueueWorker._method_queue_do_work",
        "runs one call and resolves its promise on the caller's loop",
        "e928fe3e9fa0cd3f",
    ),
    Upstream(
        f"{_C}.__init__",
        "transport.LeanConsumer",
        "defines _read_offset, _buffered_partitions, _commit_every, _n_acked, read by the "
        "drain loop copy",
        "afd9f217bbebb7f0",
    ),
    Upstream(
        f"{_C}._add_gap",
        "transport.LeanConsumer._drain_messages",
        "called for offset gaps, as the original loop does",
        "13260a7e377d922c",
    ),
    Upstream(
        f"{_DRIVER}:Consumer._to_message",
        "transport.LeanConsumer.getmany",
        "turns an aiokafka record into Faust's message",
        "6ee9242a81c01b0f",
    ),
    Upstream(
        "mode.services:Service.__init__",
        "transport.LeanConsumer._drain_messages",
        "defines _stopped, read on the consumer and the fetcher to end the loop",
        "4a6d3ecf4ac5bc82",
    ),
    # -- the per-record path that the direct hand-over replaces -------------------------------
    Upstream(
        "faust.transport.conductor:ConductorCompiler.build",
        _HAND_OVER,
        "the original per-record hand-over (flow control, producer ebb, incref, decode, "
        "put_nowait_enhanced with the pressure callbacks) that _hand_over reproduces",
        "18655df2cec29447",
    ),
    Upstream(
        "faust.transport.conductor:Conductor.__init__",
        _HAND_OVER,
        "defines _tp_index (channels per TP) and _tp_to_callback_lock (held while the "
        "index is rebuilt)",
        "a8060b554f246869",
    ),
    Upstream(
        "faust.transport.conductor:Conductor._update_tp_index",
        _HAND_OVER,
        "fills _tp_index: one set of channels per TP",
        "7f5d4d6f84ff8253",
    ),
    Upstream(
        "faust.types.tuples:Message.incref",
        _HAND_OVER,
        "inlined without its lock (no other thread has the message yet)",
        "238a954e60c08eaa",
    ),
    Upstream(
        "mode.utils.queues:FlowControlQueue.put_nowait_enhanced",
        _HAND_OVER,
        "puts the event on the agent's queue with the conductor's pressure callbacks",
        "a3b343bd6119d14d",
    ),
    Upstream(
        "faust.transport.producer:ProducerBuffer.wait_until_ebb",
        _HAND_OVER,
        "the wait the hand-over avoids by checking pending.qsize() <= max_messages",
        "1990a3e78ea9394a",
    ),
    # -- streams (batches.LeanStream) ----------------------------------------------------------
    Upstream(
        "faust.streams:Stream._py_aiter",
        "batches.LeanStream.batches",
        "per-event bookkeeping copied: stale events acked and skipped, acking topics "
        "tracked as unacked",
        "a2fd9c17e8371c82",
    ),
    Upstream(
        "faust.streams:Stream.__init__",
        "batches.LeanStream.batches",
        "defines _processors, _finalized and _on_message_in (the sensors' hook)",
        "d6bd03b297b4afc1",
    ),
    Upstream(
        "faust.streams:Stream._channel_stop_iteration",
        "batches.LeanStream.batches",
        "called when the iteration ends, as Faust's iterators do",
        "1fa8c4bcf0bea880",
    ),
    # -- the app, its monitor, its schema (transport.py) ---------------------------------------
    Upstream(
        "faust.app.base:App._new_transport",
        "transport.LeanApp._new_transport",
        "overridden to build LeanTransport for kafka:// URLs",
        "803c06c130b43026",
    ),
    Upstream(
        "faust.app.base:App.on_init_dependencies",
        "transport.LeanApp.on_init_dependencies",
        "overridden to take the monitor out of the per-event sensors",
        "787d65bff4e1fd92",
    ),
    Upstream(
        "faust.app.base:App.on_rebalance_start",
        "transport.LeanApp.on_rebalance_start",
        "overridden to set _rebalancing_sensor_state when no sensor does",
        "046a6e7ddb11150f",
    ),
    Upstream(
        "faust.serializers.schemas:Schema.compile",
        "transport.LeanSchema.compile",
        "overridden: the event carries the raw record, no codec registry",
        "ad2f27c511441109",
    ),
    # -- the producer (both modes) -------------------------------------------------------------
    Upstream(
        f"{_DRIVER}:Producer._ensure_producer",
        "outbox.Outbox.sender",
        "aiokafka's producer under Faust's wrapper, for RecordSender and topic tracking",
        "52a3a92d26fcd882",
    ),
    Upstream(
        "aiokafka.producer.producer:AIOKafkaProducer.send",
        "sender.RecordSender.send",
        "its checks (transaction, size) are made before a record goes straight to the "
        "accumulator; keep them in step",
        "cefb45dbe84e2e18",
    ),
    Upstream(
        "aiokafka.producer.producer:AIOKafkaProducer._serialize",
        "sender.RecordSender.send",
        "the size check (estimate_size_in_bytes against max_request_size) made there too",
        "a7c92c52eb5394f1",
    ),
    Upstream(
        "aiokafka.producer.producer:AIOKafkaProducer.__init__",
        "sender.RecordSender.__init__",
        "defines _message_accumulator, _txn_manager, _key_serializer, _value_serializer, "
        "_request_timeout_ms and _max_request_size, read once",
        "1a6effa440a5be19",
    ),
    Upstream(
        "aiokafka.producer.message_accumulator:MessageAccumulator.add_message",
        "sender.RecordSender.send",
        "called as AIOKafkaProducer.send calls it",
        "38378544626fca20",
    ),
    Upstream(
        "aiokafka.client:AIOKafkaClient.add_topic",
        "wire.producer.track_topic",
        "the public call the metadata-race fix relies on: tracks the topic from now on "
        "(idempotent, no refresh when already tracked)",
        "0472bc14ac062150",
    ),
    Upstream(
        "aiokafka.client:AIOKafkaClient._md_synchronizer",
        "wire/producer.py",
        "the refresh that asks only for tracked topics (the race the module doc explains)",
        "aa16f1271aa56665",
    ),
    # -- acking (acks.ack_all) ----------------------------------------------------------------
    Upstream(
        "faust.events:Event.ack",
        "acks.ack_all",
        "its step (message.ack with the app's consumer) is taken inline",
        "5acfd5e4fe0ad0b3",
    ),
    Upstream(
        "faust.types.tuples:Message.ack",
        "acks.ack_all",
        "copied inline under one hold of ack_lock: acked test, decref, on_final_ack",
        "fa0c25acc04e9f19",
    ),
    Upstream(
        "faust.types.tuples:Message.decref",
        "acks.ack_all",
        "copied inline: refcount = max(refcount - 1, 0)",
        "a1c850e1bbb72a20",
    ),
    Upstream(
        "faust.types.tuples:ConsumerMessage.on_final_ack",
        "acks.ack_all",
        "called as Message.ack calls it (Consumer.ack takes the reentrant ack_lock again)",
        "0a0f3b85deaa4353",
    ),
    # -- the app's start (transport.LeanTableManager) -------------------------------------------
    Upstream(
        "faust.tables.manager:TableManager.on_start",
        "transport.LeanTableManager.on_start",
        "copied, awaiting LeanApp.declare_topics where Faust sleeps 1 s before the subscription",
        "6479bcd615372916",
    ),
    Upstream(
        "faust.tables.manager:TableManager._update_channels",
        "transport.LeanTableManager.on_start",
        "called, as Faust's on_start does, to register the tables and unblock the conductor",
        "1501856bb63b2962",
    ),
    # -- metrics (metrics.py) ------------------------------------------------------------------
    Upstream(
        "aiokafka.consumer.consumer:AIOKafkaConsumer.__init__",
        "metrics._fetch_position",
        "defines _subscription, whose assignment's state_value(tp).position is where the "
        "consumer fetches a partition it has not read yet (the lag before a first record; "
        "`position()` is async and waits on the consumer thread, which a scrape must not)",
        "8a7e0b28bd12b900",
    ),
    Upstream(
        "aiokafka.consumer.subscription_state:SubscriptionState.__init__",
        "metrics._fetch_position",
        "defines subscription (.assignment.state_value(tp).position), read as above",
        "20a9e0f9211ca928",
    ),
    # -- tests and benchmarks ------------------------------------------------------------------
    Upstream(
        "aiokafka.consumer.fetcher:Fetcher._proc_fetch_request",
        "bench/kafka_hops.py",
        "wrapped with timestamps (fetch sent, fetch response)",
        "67dcfef648ec1026",
    ),
    Upstream(
        "aiokafka.consumer.fetcher:Fetcher.fetched_records",
        "bench/kafka_hops.py",
        "wrapped with timestamps (records handed out in the consumer thread)",
        "e0c2abb93915f0ea",
    ),
)


def main() -> None:
    """Print `target fingerprint` for every member (what to paste after an upgrade)."""
    for member in UPSTREAM:
        try:
            now = fingerprint(resolve(member.target))
        except (ImportError, AttributeError, OSError, TypeError) as exc:
            now = f"GONE ({exc!r})"
        mark = "" if now == member.fingerprint else "   <- changed"
        print(f"{member.target:<70} {now}{mark}")


if __name__ == "__main__":
    main()
