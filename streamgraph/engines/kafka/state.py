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

    def __init__(self, table: MutableMapping[bytes, bytes | None], ttl: float) -> None:
        self._table = table
        self._ttl = ttl

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
        event = current_event()
        entry: dict[str, Any] = {"t": time.time(), "v": value}
        if event is not None:  # the table partition Faust writes this key's changelog to
            entry["p"] = event.message.partition
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

    def _expired(self, entry: dict[str, Any]) -> bool:
        return time.time() - float(entry.get("t", 0)) > self._ttl
