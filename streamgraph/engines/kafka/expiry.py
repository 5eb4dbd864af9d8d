"""Active expiry of Merge and Collector state: a Faust timer deletes incomplete old entries.

Reads already ignore an entry older than `merge_ttl_seconds`, but without this timer the entry
would stay in memory and in the changelog for ever (a branch that never arrives). The timer
deletes each expired entry (a table holds the partitions this worker is assigned) and writes a
tombstone to the changelog, so compaction removes it there too; `counters.expired` counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .expiring_state import ExpiringState

if TYPE_CHECKING:
    from .app import KafkaGraph

logger = logging.getLogger("streamgraph.kafka")


def expiry_interval(ttl: float) -> float:
    """How often to look: a quarter of the TTL, between 0.5 s and a minute.

    An entry is deleted at most `ttl + interval` seconds after it was last written.
    """
    return min(max(ttl / 4, 0.5), 60.0)


def add_state_expiry(graph: KafkaGraph, tables: Mapping[str, object]) -> None:
    """Register the expiry timer on the graph's Faust app (when it has stateful steps)."""
    states = {name: s for name, s in tables.items() if isinstance(s, ExpiringState)}
    if not states:
        return
    app = graph.app

    async def expire_state() -> None:
        removed = expire_states(graph, states)
        # the tombstones: under exactly_once in transactions (state_table.py)
        await graph.states.flush_forgotten(graph.eos, None if graph.eos else graph.sender())
        if removed:
            logger.info(
                "expired %d incomplete merge/collector entries older than %.0f s",
                removed,
                graph.settings.merge_ttl_seconds,
            )

    app.timer(expiry_interval(graph.settings.merge_ttl_seconds), name="sg-state-expiry")(
        expire_state
    )


def expire_states(graph: KafkaGraph, states: dict[str, ExpiringState]) -> int:
    """Delete the expired entries of every state table; returns how many.

    A table holds the entries of the partitions this worker is assigned only."""
    removed = 0
    for state in states.values():
        for key, partition in state.expired():
            state.forget(key, partition)
            removed += 1
    graph.counters.expired += removed
    return removed
