"""Step classes and handlers the scenario suite's graphs name (looked up by name)."""

from __future__ import annotations

import asyncio
from typing import Any

from streamgraph.errors import NotFoundError
from streamgraph.steps import Choice

seen: list[Any] = []


def inc(x: int) -> int:
    return x + 1


def double(x: int) -> int:
    return x * 2


async def async_inc(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


def record(x: Any) -> Any:
    seen.append(x)
    return x


def fail(x: Any) -> Any:
    raise ValueError(f"bad value {x}")


def not_found(x: Any) -> Any:
    raise NotFoundError(f"no such thing {x}")


def describe_error(event: Any) -> dict[str, Any]:
    return {"handled": True, "error": event.error, "origin": event.origin_state, "body": event.body}


def with_context(x: Any, context: Any = None) -> Any:
    return {"x": x, "param": context.get_param("p", "none")}


class Adder:
    def __init__(self, context: Any = None, name: str | None = None, amount: int = 1) -> None:
        self.context = context
        self.name = name
        self.amount = amount
        self.initialised = False

    def post_init(self, mode: str = "sync") -> None:
        self.initialised = True

    def do(self, x: int) -> int:
        assert self.initialised, "post_init must run before events"
        return x + self.amount


class EventEcho:
    """A full-event step: answers with what the Event carries."""

    def do(self, event: Any) -> dict[str, Any]:
        return {"id": event.id, "path": event.path, "method": event.method, "body": event.body}


class Router(Choice):
    """Routes by the body's `to` field."""

    def select_outlets(self, body: Any) -> list[str]:
        return body["to"] if isinstance(body["to"], list) else [body["to"]]


class Counter:
    """A loop body: adds one to `n`."""

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "n": body["n"] + 1}


class LoopUntil:
    """Loops back to `counter` until `n` reaches `target`, then goes to `done`."""

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["counter"] if body["n"] < body["target"] else ["done"]


class Streamer:
    def __init__(self, chunks: int = 3, fail_at: int | None = None, **kw: Any) -> None:
        self.chunks = chunks
        self.fail_at = fail_at

    def do(self, body: Any) -> Any:
        for i in range(self.chunks):
            if i == self.fail_at:
                raise RuntimeError(f"stream broke at {i}")
            yield f"{body}-{i}"


class AsyncStreamer:
    async def do(self, body: Any) -> Any:
        for i in range(3):
            await asyncio.sleep(0)
            yield {"i": i, "of": body}


class NoDo:
    def run(self, x: Any) -> Any:
        return x


def count_batch(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """A loop body behind a Batch of one: records the batch, adds one to `n` of its body."""
    seen.append(batch)
    return {**batch[0], "n": batch[0]["n"] + 1}


def record_error(event: Any) -> dict[str, Any]:
    """An error handler that records where the error came from and what it said."""
    caught = {"origin": event.origin_state, "error": event.error}
    seen.append(caught)
    return caught


class LoopBack(Choice):
    """Routes back to `back` until `n` reaches `target`, then on to `out`."""

    def __init__(self, back: str, out: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.back = back
        self.out = out

    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return [self.back] if body["n"] < body["target"] else [self.out]
