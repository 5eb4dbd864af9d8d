"""State for Merge and Collector on Kafka: a Faust table whose entries expire."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson


class ExpiringState(MutableMapping[str, Any]):
    """A mapping over a changelog-backed table; entries older than `ttl` seconds are dropped.

    Values are stored as orjson bytes with the time they were written, so an incomplete merge
    (a branch that never arrived) does not keep its memory forever.
    """

    def __init__(self, table: MutableMapping[bytes, bytes | None], ttl: float) -> None:
        self._table = table
        self._ttl = ttl

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
        self._table[key.encode()] = orjson.dumps({"t": time.time(), "v": value})

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

    def expire(self) -> int:
        """Drop expired entries; returns how many."""
        old = [k for k, v in list(self._table.items()) if not v or self._expired(orjson.loads(v))]
        for key in old:
            del self._table[key]
        return len(old)

    def _expired(self, entry: dict[str, Any]) -> bool:
        return time.time() - float(entry.get("t", 0)) > self._ttl
