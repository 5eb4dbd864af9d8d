"""The Kafka ACLs a function needs on a secured cluster, and nothing more (`streamgraph acls`).

Computed from what the workers really touch: the compiled plan of the function and of each
child function (`build_topology`), their Faust apps (app id `<prefix>.<function>`: the consumer
group, the leader topic, the Merge/Collector changelogs), the queues' user-named topics, the
dedicated model workers' request topics, groups and reply topics, exactly_once's transactional
ids and the gateway's reply topics.

    function_acls(function, settings, "User:alice")   # list[Acl], for LocalKafka.grant too

How the list is kept short without giving more:
- Every name a worker of function F uses under `<prefix>.<F>.` (entry, output, dead letters,
  step topics, model topics, reply topics) is streamgraph's naming for F alone, so the literal
  needs there become ONE prefixed ACL per operation on `<prefix>.<F>.` (a function named
  `<F>.x` would share it: do not name functions so on a cluster with per-function ACLs).
  Reply topics (a uuid each) are prefixed by nature; their DELETE stays on their own prefix.
- Names elsewhere (user-named queue topics, another function's topics, `<app id>-...`
  changelogs, the leader topic) are literal: `<app id>-` is also the start of a function
  named `<F>-x`.
- DESCRIBE is never listed: Kafka implies it from READ, WRITE, DELETE and ALTER.
- No cluster ACL: topics are created under a topic CREATE ACL, and the only producers that
  are idempotent are exactly_once's transactional ones, authorized by their transactional id
  (aiokafka and librdkafka default to enable_idempotence=False; Faust turns it on only for its
  own processing_guarantee, which streamgraph does not use).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...broker.acls import Acl, Operation, PatternKind, ResourceKind
from ...core.outcome import MERGING
from ...settings import Settings
from ...wire.requester import reply_topic_prefix as gateway_reply_prefix
from .faust_app import leader_topic
from .function_workers import FunctionWorker, compile_worker, worker_names
from .remote_model import consumer_group, dedicated_models, request_topic
from .remote_model import reply_topic_prefix as model_reply_prefix
from .state.stateful_steps import changelog_topic
from .transactions import transactional_id_prefix

__all__ = ["Roles", "function_acls", "parse_principal"]

# `Type:name`: Kafka's principal syntax; never a wildcard (it would grant every user)
_PRINCIPAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*:[^\s*:][^\s*]*$")


def parse_principal(principal: str) -> str:
    """`principal` if it is a Kafka principal such as `User:alice`; else ValueError."""
    if not _PRINCIPAL.match(principal):
        raise ValueError(
            f"principal {principal!r}: expected TYPE:NAME such as User:alice "
            "(no spaces, no wildcard)"
        )
    return principal


@dataclass(frozen=True)
class Roles:
    """Which processes of the function run as the principal, besides its step workers."""

    gateway: bool = True  # `streamgraph gateway`: entry topic, its own reply topics
    model_workers: bool = True  # `streamgraph worker --model NAME` (dedicated_process models)
    dlq_replay: bool = False  # `streamgraph dlq replay`: an operator's tool, not the function's


@dataclass
class _Needs:
    """(resource, name, operation, pattern) needs, in the order found, no duplicates."""

    items: dict[tuple[ResourceKind, str, Operation, PatternKind], None] = field(
        default_factory=dict
    )

    def add(
        self,
        resource: ResourceKind,
        names: Iterable[str] | str,
        *operations: Operation,
        pattern: PatternKind = "literal",
    ) -> None:
        for name in [names] if isinstance(names, str) else names:
            for operation in operations:
                self.items[(resource, name, operation, pattern)] = None


def function_acls(
    function: Any,
    settings: Settings,
    principal: str,
    *,
    only: str | None = None,
    roles: Roles = Roles(),
    namespace: dict[str, Any] | None = None,
) -> list[Acl]:
    """The ACLs `principal` needs to run `function` (and its child functions, or only the
    function `only` names) under `settings` (topic prefix, processing guarantee, model workers).
    """
    principal = parse_principal(principal)
    needs = _Needs()
    workers = [
        compile_worker(function, name, settings, namespace) for name in worker_names(function, only)
    ]
    exactly_once = settings.processing_guarantee == "exactly_once"
    for worker in workers:
        _worker_needs(needs, worker, exactly_once)
        if worker.name != function.name and worker.plan.responder is not None:
            # a child's responder answers the caller of the parent's entry topic
            parent_entry = settings.topic(function.name, "in")
            needs.add("topic", gateway_reply_prefix(parent_entry), "write", pattern="prefixed")
    models = dedicated_models(function) if settings.dedicated_model_workers else []
    if models and any(worker.name == function.name for worker in workers):
        _model_needs(needs, settings, function.name, models, roles.model_workers)
    if roles.gateway:  # the gateway of the first function listed (the one `only` names)
        entry = workers[0].topology.entry
        needs.add("topic", entry, "write")
        prefix = gateway_reply_prefix(entry)
        needs.add("topic", prefix, "create", "read", "delete", pattern="prefixed")
    if roles.dlq_replay:  # reads the dead letters, sends each back to its step's topic
        for worker in workers:
            needs.add("topic", worker.topology.dlq, "read")
            needs.add("topic", worker.topology.step_topics.values(), "write")
            needs.add("group", f"{worker.topology.dlq}.replay", "read")
    own = [f"{worker.app_id}." for worker in workers]
    return _compact(needs, own, principal)


def _worker_needs(needs: _Needs, worker: FunctionWorker, exactly_once: bool) -> None:
    """A step worker's: its topics, its Faust app's group and topics, its transactions."""
    topology = worker.topology
    reads = [topic for topics in topology.sources.values() for topic in topics]
    # every step's outlets, answers, dead letters, queues (the entry is the callers')
    writes = [topic for topic in topology.all_topics() if topic != topology.entry]
    # agents' topics are declared by Faust (internal=True), written ones before the first send
    needs.add("topic", [*topology.all_topics(), *reads], "create")
    needs.add("topic", reads, "read")
    needs.add("topic", writes, "write")
    changelogs = [
        changelog_topic(worker.app_id, topology.step_topics[step])
        for step, runtime in worker.plan.steps.items()
        if runtime.stateful in MERGING
    ]  # Merge/Collector state: written by the steps, read back on assignment
    needs.add("topic", changelogs, "create", "read", "write")
    # Faust's LeaderAssignor: created at start, subscribed by every worker of the app
    needs.add("topic", leader_topic(worker.app_id), "create", "read")
    needs.add("group", worker.app_id, "read")  # Faust's consumer group is the app id
    if exactly_once:  # a transactional producer per input partition (transactions.py)
        needs.add(
            "transactional_id", transactional_id_prefix(worker.app_id), "write", pattern="prefixed"
        )


def _model_needs(
    needs: _Needs, settings: Settings, function: str, models: list[str], model_workers: bool
) -> None:
    """Step workers call dedicated_process models through request topics and private reply
    topics (remote_model.py); the model workers read the requests in a group per model."""
    replies = model_reply_prefix(settings, function)
    needs.add("topic", replies, "create", "read", "delete", pattern="prefixed")
    for model in models:
        needs.add("topic", request_topic(settings, function, model), "create", "write")
        if model_workers:
            needs.add("topic", request_topic(settings, function, model), "read")
            needs.add("group", consumer_group(settings, function, model), "read")
    if model_workers:
        needs.add("topic", replies, "write", pattern="prefixed")


def _compact(needs: _Needs, own_prefixes: list[str], principal: str) -> list[Acl]:
    """The needs as ACLs: a literal topic under a function's own prefix becomes that prefix
    (prefixed), and what a prefixed ACL of the same operation covers is left out."""
    wanted: dict[tuple[ResourceKind, str, Operation, PatternKind], None] = {}
    for resource, name, operation, pattern in needs.items:
        if resource == "topic" and pattern == "literal":
            prefix = next((p for p in own_prefixes if name.startswith(p)), None)
            if prefix is not None:
                name, pattern = prefix, "prefixed"
        wanted[(resource, name, operation, pattern)] = None
    prefixed = [key for key in wanted if key[3] == "prefixed"]

    def covered(key: tuple[ResourceKind, str, Operation, PatternKind]) -> bool:
        resource, name, operation, _ = key
        return any(
            other != key
            and other[0] == resource
            and other[2] == operation
            and name.startswith(other[1])
            for other in prefixed
        )

    return [
        Acl(principal, resource, name, operation, pattern)
        for resource, name, operation, pattern in wanted
        if not covered((resource, name, operation, pattern))
    ]
