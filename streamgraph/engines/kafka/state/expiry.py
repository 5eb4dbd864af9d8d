"""Active expiry of Merge and Collector state: a Faust timer deletes incomplete old entries.

Reads already ignore an entry older than `merge_ttl_seconds`, but without this timer the entry
would stay in memory and in the changelog for ever (a branch that never arrives). The timer
deletes each expired entry (a table holds the partitions this worker is assigned) and writes a
tombstone to the changelog, so compaction removes it there too; `counters.expired` counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import faust

from ..acks import Counters
from ..sender import RecordSender
from ..transactions import PartitionTransactions
from .expiring_state import ExpiringState
from .step_states import StepStates

logger = logging.getLogger("streamgraph.kafka")


def expiry_interval(ttl: float) -> float:
    """How often to look: a quarter of the TTL, between 0.5 s and a minute.

    An entry is deleted at most `ttl + interval` seconds after it was last written.
    """
    return min(max(ttl / 4, 0.5), 60.0)


def add_state_expiry(
    app: faust.App,
    tables: Mapping[str, ExpiringState],
    states: StepStates,
    eos: PartitionTransactions | None,
    sender: Callable[[], RecordSender],
    counters: Counters,
    ttl: float,
) -> None:
    """Register the expiry timer of `tables` (by step) on `app`, when there is any.

    The tombstones go through `states` (the same tables by input topic): under exactly_once in
    transactions of `eos`, else through `sender()` (called when the timer runs: the producer
    exists only once the app started)."""
    if not tables:
        return

    async def expire_state() -> None:
        removed = expire_states(tables, counters)
        await states.flush_forgotten(eos, None if eos else sender())
        if removed:
            logger.info(
                "expired %d incomplete merge/collector entries older than %.0f s", removed, ttl
            )

    app.timer(expiry_interval(ttl), name="sg-state-expiry")(expire_state)


def expire_states(tables: Mapping[str, ExpiringState], counters: Counters) -> int:
    """Delete the expired entries of every table, counted in `counters.expired`; how many.

    A table holds the entries of the partitions this worker is assigned only."""
    removed = 0
    for state in tables.values():
        for key, partition in state.expired():
            state.forget(key, partition)
            removed += 1
    counters.expired += removed
    return removed
