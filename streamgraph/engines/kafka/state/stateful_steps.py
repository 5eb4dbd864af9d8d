"""The Merge and Collector steps of one Faust app: a table each, its changelog topic, its
rebalance signals.

A step's table (state_table.py) is copartitioned with the step's input topics, so its entries
move with the partitions; the step sees it as an `ExpiringState` (expiring_state.py), whose old
entries the expiry timer deletes (expiry.py).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import faust

from ....connection.kafka_security import kafka_security
from ....settings import Settings
from ..topology import Topology
from .expiring_state import ExpiringState
from .state_table import StateTable
from .step_states import StepStates

__all__ = ["StatefulSteps", "changelog_topic"]


def changelog_topic(app_id: str, step_topic: str) -> str:
    """The changelog of a Merge or Collector step's table: Faust's name for a table's
    (`<app id>-<table>-changelog`), the table named after the step's topic."""
    return f"{app_id}-{step_topic}.state-changelog"


class StatefulSteps:
    """The tables of an app's Merge and Collector steps, by step (`tables`) and by input topic
    (`states`), and their changelog topics (`changelogs`)."""

    def __init__(
        self, app: faust.App, topology: Topology, settings: Settings, transactional: bool
    ) -> None:
        self._app = app
        self._topology = topology
        self._settings = settings
        # exactly_once: the transactions restore the tables (kafka/transactions.py), not the
        # app's partition signals
        self._transactional = transactional
        self.states = StepStates()
        self.tables: dict[str, ExpiringState] = {}
        self.changelogs: list[Any] = []  # Faust topics: declared, and tracked by the producer

    def add(self, name: str) -> None:
        """A Merge or Collector step's table and its changelog topic."""
        changelog = self._app.topic(
            changelog_topic(self._app.conf.id, self._topology.step_topics[name]),
            partitions=self._settings.partitions,
            replicas=self._settings.replication,
            compacting=True,
            internal=True,
        )
        table = StateTable(
            changelog.get_topic_name(), self._settings.brokers, kafka_security(self._settings)
        )
        if not self.states.by_topic and not self._transactional:
            self._app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]
            self._app.on_partitions_assigned.connect(self._on_partitions_assigned)  # type: ignore[arg-type]
        for topic in self._topology.sources[name]:  # its own, and the entry topic if it starts
            self.states.by_topic[topic] = table
        self.states.declares.append(changelog.maybe_declare)
        self.tables[name] = ExpiringState(table, self._settings.merge_ttl_seconds)
        self.changelogs.append(changelog)

    def state(self, name: str) -> MutableMapping[str, Any]:
        """Step `name`'s state, as its Merge or Collector reads and writes it."""
        return self.tables[name]

    async def _on_partitions_revoked(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.states.on_revoked()

    async def _on_partitions_assigned(self, app: Any, *args: Any, **kwargs: Any) -> None:
        (assigned,) = args  # Faust's signal: (app, assigned, signal=...)
        await self.states.on_assigned((tp.topic, tp.partition) for tp in assigned)
