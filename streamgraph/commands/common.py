"""What the subcommands share: the TOPOLOGY argument, `--brokers`, loading a function."""

from __future__ import annotations

from typing import Any

import click

from ..errors import StreamgraphError
from ..settings import Settings

topology_argument = click.argument("topology", metavar="TOPOLOGY")
brokers_option = click.option(
    "--brokers", default=None, help="Bootstrap servers (default: STREAMGRAPH_BROKERS)."
)


def settings_for(brokers: str | None) -> Settings:
    return Settings(brokers=brokers) if brokers else Settings()


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


__all__ = ["brokers_option", "load", "pick_function", "settings_for", "topology_argument"]
