"""`streamgraph acls`: the computed list for a few topologies, both formats, the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import streamgraph

import topologies.cyclic
import topologies.queue_child
import topologies.shared_llm
from streamgraph.broker.acls import Acl
from streamgraph.commands.acls import acls_json, kafka_acls_line
from streamgraph.engines.kafka.least_privilege import Roles, function_acls
from streamgraph.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "kafka"))
from least_privilege_topology import build_function

U = "User:alice"


def _set(acls: list[Acl]) -> set[tuple[str, str, str, str]]:
    assert all(a.principal == U for a in acls)
    assert len(set(acls)) == len(acls)  # no duplicates
    return {(a.resource, a.name, a.operation, a.pattern) for a in acls}


def test_a_plain_flow_needs_its_prefix_its_group_and_faust_leader_topic() -> None:
    got = _set(function_acls(topologies.cyclic.function, Settings(), U))
    p = "sg.cyclic-function."
    assert got == {
        ("topic", p, "create", "prefixed"),
        ("topic", p, "read", "prefixed"),
        ("topic", p, "write", "prefixed"),
        ("topic", "sg.cyclic-function-__assignor-__leader", "create", "literal"),
        ("topic", "sg.cyclic-function-__assignor-__leader", "read", "literal"),
        ("group", "sg.cyclic-function", "read", "literal"),
        # the gateway's reply topics: created and read under the prefix, deleted on their own
        ("topic", f"{p}in.replies.", "delete", "prefixed"),
    }
    without_gateway = _set(
        function_acls(topologies.cyclic.function, Settings(), U, roles=Roles(gateway=False))
    )
    assert without_gateway == got - {("topic", f"{p}in.replies.", "delete", "prefixed")}


def test_a_queue_to_a_child_function_gives_each_its_own_group_and_the_queue_literally() -> None:
    settings = Settings(topic_prefix="t")
    got = _set(function_acls(build_function(settings), settings, U))
    assert ("topic", "t-lp-queue", "write", "literal") in got  # the parent writes the queue
    assert ("topic", "t-lp-queue", "read", "literal") in got  # the child reads it
    assert ("group", "t.lp", "read", "literal") in got
    assert ("group", "t.lp-sink", "read", "literal") in got
    assert ("topic", "t.lp-sink.", "read", "prefixed") in got
    # the child alone: its own topics, the queue; nothing of the parent's, no gateway of its
    child = _set(function_acls(build_function(settings), settings, U, only="lp-sink"))
    assert ("topic", "t-lp-queue", "read", "literal") in child
    assert not any(name.startswith("t.lp.") or name == "t.lp" for _, name, _, _ in child)
    assert ("topic", "t-lp-queue", "write", "literal") not in child
    # queue_child's queue topic is under the parent's prefix: the child reads it literally
    child = _set(function_acls(topologies.queue_child.function, Settings(), U, only="log-ds"))
    assert ("topic", "sg.queue-child.output-stream", "read", "literal") in child


def test_dedicated_model_workers_need_their_group_and_reply_topics() -> None:
    settings = Settings(dedicated_model_workers=True)
    got = _set(function_acls(topologies.shared_llm.function, settings, U))
    p = "sg.open-ai-tut."
    assert ("group", f"{p}model.shared_llm", "read", "literal") in got
    assert ("topic", f"{p}model.replies.", "delete", "prefixed") in got
    assert ("topic", p, "read", "prefixed") in got  # request and reply topics are under it
    in_process = _set(
        function_acls(topologies.shared_llm.function, Settings(dedicated_model_workers=False), U)
    )
    assert not any("model" in name for _, name, _, _ in in_process)


def test_exactly_once_adds_one_prefixed_transactional_id_per_app() -> None:
    def acls(guarantee: str) -> set[tuple[str, str, str, str]]:
        settings = Settings(topic_prefix="t", processing_guarantee=guarantee)  # type: ignore[arg-type]
        return _set(function_acls(build_function(settings), settings, U))

    extra = acls("exactly_once") - acls("at_least_once")
    assert extra == {
        ("transactional_id", "t.lp|", "write", "prefixed"),
        ("transactional_id", "t.lp-sink|", "write", "prefixed"),
    }
    assert acls("at_least_once") <= acls("exactly_once")


def test_dlq_replay_is_asked_for_not_assumed() -> None:
    got = _set(
        function_acls(topologies.cyclic.function, Settings(), U, roles=Roles(dlq_replay=True))
    )
    assert ("group", "sg.cyclic-function.dlq.replay", "read", "literal") in got
    assert not any(
        "replay" in a[1] for a in _set(function_acls(topologies.cyclic.function, Settings(), U))
    )


def test_never_a_wildcard_nor_a_cluster_acl() -> None:
    for function in (topologies.cyclic.function, topologies.queue_child.function):
        for acl in function_acls(function, Settings(processing_guarantee="exactly_once"), U):
            assert acl.name not in ("*", "") and acl.resource != "cluster"
            assert acl.name.startswith("sg.")


def test_both_formats() -> None:
    acl = Acl(U, "transactional_id", "sg.f|", "write", "prefixed")
    assert kafka_acls_line(acl, "b:9093") == (
        "kafka-acls.sh --bootstrap-server b:9093 --command-config client.properties --add "
        "--allow-principal User:alice --operation Write --transactional-id 'sg.f|' "
        "--resource-pattern-type prefixed"
    )
    group = Acl(U, "group", "sg.f", "read")
    assert kafka_acls_line(group, "b:9093").endswith("--operation Read --group sg.f")
    assert json.loads(acls_json([acl, group])) == [
        {
            "principal": U,
            "resource": "transactional_id",
            "name": "sg.f|",
            "pattern": "prefixed",
            "operation": "write",
        },
        {
            "principal": U,
            "resource": "group",
            "name": "sg.f",
            "pattern": "literal",
            "operation": "read",
        },
    ]


SECRET = "s3cret-never-printed"
SECURED = {
    **os.environ,
    "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "STREAMGRAPH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "STREAMGRAPH_KAFKA_SASL_USERNAME": "alice",
    "STREAMGRAPH_KAFKA_SASL_PASSWORD": SECRET,
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        streamgraph(*args), capture_output=True, text=True, timeout=120, env=SECURED
    )
    assert SECRET not in done.stdout + done.stderr
    return done


def test_the_command_prints_the_list_in_both_formats() -> None:
    lines = _run("acls", "topologies.cyclic", "--principal", "User:alice", "--brokers", "k:9093")
    assert lines.returncode == 0, lines.stderr
    expected = function_acls(topologies.cyclic.function, Settings(), U)
    assert lines.stdout.splitlines() == [kafka_acls_line(a, "k:9093") for a in expected]
    as_json = _run("acls", "topologies.cyclic", "--principal", "User:alice", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == json.loads(acls_json(expected))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("topologies.nope", "--principal", "User:a"), 1, "cannot import 'topologies.nope'"),
        (("topologies.cyclic", "--principal", "alice"), 2, "expected TYPE:NAME"),
        (("topologies.cyclic", "--principal", "User:*"), 2, "no wildcard"),
        (("topologies.cyclic", "--principal", "User:a", "--function", "x"), 1, "no child"),
    ],
)
def test_bad_arguments_are_one_clear_error(args: tuple[str, ...], code: int, message: str) -> None:
    done = _run("acls", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
