"""What the subcommands share: the TOPOLOGY argument, `--brokers`, loading a function.

Which broker a command talks to, in order: `--brokers`, `STREAMGRAPH_BROKERS`, the local broker
`streamgraph kafka start` or `streamgraph run` recorded (streamgraph/broker/broker_records.py), then
127.0.0.1:9092. `connect` also checks that a broker answers there, so an unreachable one is one
line naming the address, where it came from and what to do, never a traceback.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import click

from ..errors import BrokerUnreachableError, KafkaSecurityError, StreamgraphError
from ..settings import Settings

topology_argument = click.argument("topology", metavar="TOPOLOGY")
brokers_option = click.option(
    "--brokers",
    default=None,
    help="Bootstrap servers (default: STREAMGRAPH_BROKERS, else the local Kafka that "
    "`streamgraph kafka start` or `streamgraph run` started, else 127.0.0.1:9092).",
)

# how long a command waits for the broker to answer its first request
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class BrokerChoice:
    """The settings a command runs with, and where their brokers came from (said on errors)."""

    settings: Settings
    source: str


def choose_brokers(brokers: str | None) -> BrokerChoice:
    """The brokers to use, in the order of the module docstring."""
    from ..broker import broker_records

    if brokers:
        return BrokerChoice(Settings(brokers=brokers), "from --brokers")
    settings = Settings()
    if settings.brokers_given:
        return BrokerChoice(settings, settings.brokers_origin)
    running = broker_records.running_brokers(broker_records.folder(settings))
    if running:
        found = running[0][1]
        source = f"the local Kafka {found.owner or 'streamgraph'} started"
        return BrokerChoice(Settings(brokers=found.bootstrap_servers), source)
    return BrokerChoice(
        settings, "the default: no --brokers, STREAMGRAPH_BROKERS or local Kafka started"
    )


def settings_for(brokers: str | None) -> Settings:
    """The settings with the brokers `choose_brokers` picks."""
    return choose_brokers(brokers).settings


def security_note(settings: Settings) -> str:
    """` (SASL_SSL, mechanism ..., user ...)` for a secured cluster, empty for PLAINTEXT (never a
    secret); Kafka security settings that cannot work are a one-line error (exit 1)."""
    from ..connection.kafka_security import kafka_security

    try:
        security = kafka_security(settings)
    except KafkaSecurityError as exc:
        raise click.ClickException(str(exc)) from None
    return "" if security.protocol == "PLAINTEXT" else f" ({security.describe()})"


def connect(brokers: str | None) -> Settings:
    """`settings_for`, once a broker answered there; else a one-line error (exit 1), also for
    Kafka security settings that cannot work."""
    from ..connection.kafka_security import kafka_security
    from ..wire.reach import check_reachable

    choice = choose_brokers(brokers)
    try:
        security = kafka_security(choice.settings)
        asyncio.run(
            check_reachable(
                choice.settings.brokers, choice.source, CONNECT_TIMEOUT, security=security
            )
        )
    except (BrokerUnreachableError, KafkaSecurityError) as exc:
        raise click.ClickException(str(exc)) from None
    return choice.settings


def load(topology: str) -> Any:
    """The ServingFunction TOPOLOGY names (`topologies.NAME`, `module:attr`, `file.py:attr`)."""
    from ..locate import load_function

    try:
        return load_function(topology)
    except StreamgraphError as exc:
        raise click.ClickException(str(exc)) from exc


def pick_function(function: Any, name: str | None) -> Any:
    """The function itself, or its child function `name`."""
    if name in (None, "", function.name):
        return function
    if name not in function.child_functions:
        names = ", ".join(sorted(function.child_functions)) or "none"
        raise click.BadParameter(
            f"{function.name} has no child function {name!r} (children: {names})",
            param_hint="--function",
        )
    return function.child_functions[name]


__all__ = [
    "BrokerChoice",
    "brokers_option",
    "choose_brokers",
    "connect",
    "load",
    "pick_function",
    "security_note",
    "settings_for",
    "topology_argument",
]
