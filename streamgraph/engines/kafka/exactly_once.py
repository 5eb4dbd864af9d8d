"""exactly_once for one Faust app: its partitions' transactional producers, wired to the app.

The producers and their transactions are transactions.py's; here they are made for an app, once
the graph is known to fit them: the app's consumer reads `app.eos` (transport.LeanConsumer), a
failed transaction crashes the app, the producers stop once the app stopped consuming, and a
newly assigned partition's Merge/Collector entries are restored after its producer fenced the
previous owner.
"""

from __future__ import annotations

from typing import Any

import faust

from ...connection.kafka_security import kafka_security
from ...core.compile import Plan
from ...settings import Settings
from .topology import Topology
from .transactions import PartitionTransactions, Restore, refuse_unsupported

__all__ = ["app_transactions"]


def app_transactions(
    app: faust.App,
    plan: Plan,
    topology: Topology,
    settings: Settings,
    lean: bool,
    produced: dict[str, int],
    restore: Restore,
) -> PartitionTransactions:
    """The transactional producers of `app`; refuses a graph that cannot join them.

    `produced` counts the records sent per topic; `restore` reads the Merge/Collector entries
    of newly assigned partitions (state/step_states.py)."""
    refuse_unsupported(plan, topology, lean)
    eos = PartitionTransactions(
        app.conf.id,
        app.conf.id,  # Faust's consumer group is the app id
        {topic for topics in topology.sources.values() for topic in topics},
        {
            "bootstrap_servers": settings.brokers,
            "linger_ms": settings.producer_linger_ms,
            "max_batch_size": 512 * 1024,
        },
        produced,
        kafka_security(settings),
    )
    app.eos = eos  # type: ignore[attr-defined]  # read by transport.LeanConsumer
    eos.on_failure = app.crash

    async def stop_producers(app: Any, *args: Any, **kwargs: Any) -> None:
        # the app stopped consuming and waited for its records' acks (their commits)
        await eos.stop()

    app.on_before_shutdown.connect(stop_producers)  # type: ignore[arg-type]
    eos.restore = restore  # (after the producers fenced the previous owners)
    return eos
