"""State for Merge and Collector on Kafka: a changelog-backed table whose entries expire."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson

from .state_table import StateTable


class ExpiringState(MutableMapping[str, Any]):
    """A mapping over a changelog-backed table; entries older than `ttl` seconds are dropped.

    Values are stored as orjson bytes with the time they were written, so an incomplete merge
    (a branch that never arrived) does not keep its memory forever: reads ignore it at once,
    and the expiry timer (expiry.py) deletes it later.
    """

    def __init__(self, table: StateTable, ttl: float) -> None:
        self._table = table
        self._ttl = ttl

    @property
    def table(self) -> StateTable:
        """The table underneath (state_table.py)."""
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

    def expired(self) -> list[tuple[bytes, int]]:
        """(key, partition) of the expired entries."""
        found = []
        for key, raw in list(self._table.items()):
            partition = self._table.partition_of(key)
            if raw and partition is not None and self._expired(orjson.loads(raw)):
                found.append((key, partition))
        return found

    def forget(self, key: bytes, partition: int) -> None:
        """Delete an expired entry outside a step's run; its tombstone goes out later."""
        self._table.forget(key, partition)

    def _expired(self, entry: dict[str, Any]) -> bool:
        return time.time() - float(entry.get("t", 0)) > self._ttl
