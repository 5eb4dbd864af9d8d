"""Active expiry of Merge and Collector state: a Faust timer deletes incomplete old entries.

Reads already ignore an entry older than `merge_ttl_seconds`, but without this timer the entry
would stay in memory and in the changelog for ever (a branch that never arrives). The timer
deletes each expired entry of the partitions this worker actively owns and writes a tombstone
to the changelog, so compaction removes it there too; `counters.expired` counts them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from faust.types import TP

from .state import ExpiringState

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
        if graph.eos is not None:  # exactly_once: tombstones go in transactions (eos_state.py)
            await graph.eos_states.flush_forgotten(graph.eos)
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
    """Delete the expired entries of every state table this worker owns; returns how many.

    Runs outside stream iteration: `ExpiringState.forget` tombstones each in its partition.
    """
    removed = 0
    for name, state in states.items():
        topic = graph.topology.step_topics[name]
        for key, partition in state.expired(functools.partial(_owns, graph, topic)):
            state.forget(key, partition)
            removed += 1
    graph.counters.expired += removed
    return removed


def _owns(graph: KafkaGraph, topic: str, partition: int) -> bool:
    # the table is copartitioned with the step's topic: same partition number, same owner
    return bool(graph.app.assignor.is_active(TP(topic, partition)))
