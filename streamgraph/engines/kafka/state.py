"""State for Merge and Collector on Kafka: a Faust table whose entries expire."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import orjson
from faust import current_event


class ExpiringState(MutableMapping[str, Any]):
    """A mapping over a changelog-backed table; entries older than `ttl` seconds are dropped.

    Values are stored as orjson bytes with the time they were written and the partition of the
    event that wrote them, so an incomplete merge (a branch that never arrived) does not keep
    its memory forever: reads ignore it at once, and `expire_inactive` deletes it later.
    """

    def __init__(
        self,
        table: MutableMapping[bytes, Any],
        ttl: float,
        partition: Callable[[], int | None] | None = None,
    ) -> None:
        self._table = table
        self._ttl = ttl
        # the partition a write belongs to: Faust's current event's, or the table's own
        self._partition = partition or _event_partition

    @property
    def table(self) -> Any:
        """The Faust table underneath."""
        return self._table

    def _entry(self, key: str) -> dict[str, Any] | None:
        raw = self._table.get(key.encode())
        if not raw:
            return None
        entry: dict[str, Any] = orjson.loads(raw)
        return None if self._expired(entry) else entry

    def __getitem__(self, key: str) -> Any:
        entry = self._entry(key)
        if entry is None:
            raise KeyError(key)
        return entry["v"]

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._entry(key)
        return default if entry is None else entry["v"]

    def __setitem__(self, key: str, value: Any) -> None:
        entry: dict[str, Any] = {"t": time.time(), "v": value}
        partition = self._partition()
        if partition is not None:  # the table partition this key's changelog is written to
            entry["p"] = partition
        self._table[key.encode()] = orjson.dumps(entry)

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def pop(self, key: str, default: Any = None) -> Any:
        entry = self._entry(key)
        if key.encode() in self._table:
            del self._table[key.encode()]
        return default if entry is None else entry["v"]

    def __iter__(self) -> Iterator[str]:
        return iter([k.decode() for k in list(self._table.keys())])

    def __len__(self) -> int:
        return len(self._table)

    def expired(self, owns: Callable[[int], bool]) -> list[tuple[bytes, int]]:
        """(key, partition) of the expired entries in partitions this worker `owns`.

        Entries of partitions held only as standby copies are left to their active worker;
        entries written without a partition (by an older worker) are only expired lazily.
        """
        found = []
        for key, raw in list(self._table.items()):
            if not raw:
                continue
            entry = orjson.loads(raw)
            partition = entry.get("p")
            if partition is not None and owns(partition) and self._expired(entry):
                found.append((key, int(partition)))
        return found

    def forget(self, key: bytes, partition: int) -> None:
        """Delete an expired entry outside stream iteration, with a tombstone in the changelog.

        (A Faust table's `del` cannot tell the key's partition there, so the entry is removed
        from its store and the tombstone sent explicitly.)"""
        table: Any = self._table
        if hasattr(table, "forget"):  # eos_state.TransactionalTable
            table.forget(key, partition)
        else:
            table.data.pop(key, None)
            table.send_changelog(partition, key, None, value_serializer="raw")

    def _expired(self, entry: dict[str, Any]) -> bool:
        return time.time() - float(entry.get("t", 0)) > self._ttl


def _event_partition() -> int | None:
    event = current_event()
    return None if event is None else int(event.message.partition)
