"""Where an app's records go: one `RecordSender` over Faust's producer, or the transaction's.

Under at_least_once every record (a step's outputs, dead letters, replies, Merge/Collector
changes and tombstones) goes through one `RecordSender` (sender.py) over the aiokafka producer
inside Faust's. Under exactly_once a record goes through the sender of the transaction the
running agent task is in (transactions.py); one outside any transaction is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

import faust

from ...errors import StreamgraphError
from ...wire.producer import track_topic
from .executor import Emission
from .sender import RecordSender
from .transactions import PartitionTransactions, current_sender

__all__ = ["Outbox"]


class Outbox:
    """Sends an app's records: `send` for the executor, `sender()` for the rest."""

    def __init__(
        self,
        app: faust.App,
        produced: dict[str, int],
        changelogs: Sequence[Any],
        eos: PartitionTransactions | None,
    ) -> None:
        self._app = app
        self._produced = produced  # records sent per topic (Counters.produced)
        # the Merge/Collector changelog topics: filled as the steps are added, read once the
        # producer is first used (after the app started)
        self._changelogs = changelogs
        self._eos = eos
        self._sender: RecordSender | None = None

    def sender(self) -> RecordSender:
        """The sender over aiokafka's producer (at_least_once); changelogs tracked before use."""
        if self._sender is None:
            # aiokafka's producer under Faust's wrapper: the wrapper costs ~10% per record here
            producer = self._app.producer._ensure_producer()  # type: ignore[attr-defined]
            for changelog in self._changelogs:
                track_topic(producer.client, changelog.get_topic_name())
            self._sender = RecordSender(producer, self._produced)
        return self._sender

    def send(self, emission: Emission) -> Awaitable[Awaitable[Any]]:
        """Send `emission`: awaited, its delivery future (not awaited: the acker checks it).

        A plain function returning the sender's coroutine: one coroutine less per record."""
        if self._eos is not None:
            sender = current_sender.get()
            if sender is None:  # a record outside any transaction would break the guarantee
                raise StreamgraphError(
                    f"exactly_once: a record to {emission.topic} outside a batch"
                )
            return sender.send(emission)
        return (self._sender or self.sender()).send(emission)
