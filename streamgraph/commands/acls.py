"""`streamgraph acls TOPOLOGY --principal User:NAME`: the ACLs a function needs, nothing more.

The list is engines/kafka/least_privilege.py's, for the settings of this environment (topic
prefix, processing guarantee, dedicated model workers); printed as `kafka-acls.sh` lines (one
ACL each) or as JSON. Nothing connects to Kafka: `--brokers` (else STREAMGRAPH_BROKERS, else the
local broker) is only written into the lines.
"""

from __future__ import annotations

import json
import shlex

import click

from ..broker.acls import Acl
from ..errors import StreamgraphError
from .common import brokers_option, load, settings_for, topology_argument

_RESOURCE_OPTION = {
    "topic": "--topic",
    "group": "--group",
    "transactional_id": "--transactional-id",
}
_OPERATION = {"idempotent_write": "IdempotentWrite", "describe_configs": "DescribeConfigs"}


def kafka_acls_line(acl: Acl, bootstrap: str) -> str:
    """The `kafka-acls.sh` command that adds `acl` (its admin's credentials in
    client.properties)."""
    operation = _OPERATION.get(acl.operation, acl.operation.capitalize())
    resource = (
        "--cluster"
        if acl.resource == "cluster"
        else f"{_RESOURCE_OPTION[acl.resource]} {shlex.quote(acl.name)}"
    )
    line = (
        f"kafka-acls.sh --bootstrap-server {shlex.quote(bootstrap)} "
        "--command-config client.properties "
        f"--add --allow-principal {shlex.quote(acl.principal)} --operation {operation} {resource}"
    )
    return line + (" --resource-pattern-type prefixed" if acl.pattern == "prefixed" else "")


def acls_json(acls: list[Acl]) -> str:
    """The ACLs as a JSON list of {principal, resource, name, pattern, operation}."""
    rows = [
        {
            "principal": a.principal,
            "resource": a.resource,
            "name": a.name,
            "pattern": a.pattern,
            "operation": a.operation,
        }
        for a in acls
    ]
    return json.dumps(rows, indent=2)


def _principal(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ..engines.kafka.least_privilege import parse_principal

    try:
        return parse_principal(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@topology_argument
@click.option(
    "--principal",
    required=True,
    callback=_principal,
    help="Who runs the function, as Kafka names it: User:NAME.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["kafka-acls", "json"]),
    default="kafka-acls",
    show_default=True,
    help="kafka-acls.sh command lines, or a JSON list.",
)
@click.option(
    "--function",
    "function_name",
    default=None,
    help="Only this function (the parent or a child); default: the parent and every child.",
)
@click.option(
    "--gateway/--no-gateway",
    default=True,
    show_default=True,
    help="Also what the HTTP gateway needs (entry topic, its reply topics).",
)
@click.option(
    "--dlq-replay",
    is_flag=True,
    help="Also what `streamgraph dlq replay` needs (its group, the dead letters, step topics).",
)
@brokers_option
def acls(
    topology: str,
    principal: str,
    output: str,
    function_name: str | None,
    gateway: bool,
    dlq_replay: bool,
    brokers: str | None,
) -> None:
    """Print the Kafka ACLs TOPOLOGY's workers need on a secured cluster, and nothing more."""
    from ..engines.kafka.least_privilege import Roles, function_acls

    settings = settings_for(brokers)
    function = load(topology)
    try:
        found = function_acls(
            function,
            settings,
            principal,
            only=function_name,
            roles=Roles(gateway=gateway, dlq_replay=dlq_replay),
        )
    except StreamgraphError as exc:
        raise click.ClickException(str(exc)) from exc
    if output == "json":
        click.echo(acls_json(found))
    else:
        for acl in found:
            click.echo(kafka_acls_line(acl, settings.brokers))


__all__ = ["acls", "acls_json", "kafka_acls_line"]
