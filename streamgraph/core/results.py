"""Markers a step's result may carry to tell the engine how to route it."""

from __future__ import annotations

from typing import Any


class _Drop:
    """Returned by a filtering step: the event stops here."""

    _instance: _Drop | None = None

    def __new__(cls) -> _Drop:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


class Many(list[Any]):
    """Returned by a flat-mapping step: each element goes on as its own event."""
