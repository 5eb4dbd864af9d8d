"""Built-in steps (`sg.steps`, also reachable as `storey.Map` etc. so MLRun graphs run as is).

Plain steps (Map, Filter, FlatMap, Extend, Choice, ChoiceByField) are ordinary classes with
`do`. Merge and Collector keep their logic here, over a state mapping the engine owns (a dict in
process, a changelog-backed table on Kafka), so both engines share it; a Batch's buffers and
timers are `core.batching`'s, over a timer the engine gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from ..errors import StreamgraphError
from .event import Event
from .results import DROP, Many


def _identity(body: Any) -> Any:
    return body


class Map:
    """Apply `fn` to each body: `Map(_fn="(event['x'] * 2)")`."""

    def __init__(
        self, fn: Callable[[Any], Any] | None = None, name: str | None = None, **kw: Any
    ) -> None:
        self.fn = fn or _identity
        self.name = name

    def do(self, body: Any) -> Any:
        return self.fn(body)


class Filter:
    """Pass on only the bodies for which `fn` is true."""

    def __init__(
        self, fn: Callable[[Any], Any] | None = None, name: str | None = None, **kw: Any
    ) -> None:
        self.fn = fn or bool
        self.name = name

    def do(self, body: Any) -> Any:
        return body if self.fn(body) else DROP


class FlatMap:
    """`fn` returns a list; each element goes on as its own event."""

    def __init__(
        self, fn: Callable[[Any], Any] | None = None, name: str | None = None, **kw: Any
    ) -> None:
        self.fn = fn or _identity
        self.name = name

    def do(self, body: Any) -> Any:
        result = self.fn(body)
        return Many(
            result
            if isinstance(result, Iterable) and not isinstance(result, str | bytes | dict)
            else [result]
        )


class Extend:
    """Add the keys of `fn(body)` to the body: `Extend(_fn='({"extend": "something"})')`."""

    def __init__(
        self, fn: Callable[[Any], Any] | None = None, name: str | None = None, **kw: Any
    ) -> None:
        self.fn = fn or (lambda body: {})
        self.name = name

    def do(self, body: Any) -> Any:
        extra = self.fn(body)
        if not isinstance(body, dict) or not isinstance(extra, dict):
            raise TypeError("Extend needs a dict body and a function that returns a dict")
        return {**body, **extra}


class Choice:
    """Route each event to the outlets `select_outlets(body)` names (subclass and override)."""

    def __init__(self, name: str | None = None, **kw: Any) -> None:
        self.name = name

    def do(self, body: Any) -> Any:
        return body

    def select_outlets(self, body: Any) -> list[str] | None:
        return None


class FieldRoutingError(StreamgraphError, RuntimeError):
    """The routing field is missing or empty (a RuntimeError, as in MLRun)."""


class ChoiceByField(Choice):
    """Route to the outlet(s) named by `body[field_name]` (a name or a list of names)."""

    def __init__(self, field_name: str, name: str | None = None, **kw: Any) -> None:
        super().__init__(name)
        self.field_name = field_name

    def select_outlets(self, body: Any) -> list[str] | None:
        field = self.field_name
        if not isinstance(body, dict) or field not in body:
            keys = list(body) if isinstance(body, dict) else []
            raise FieldRoutingError(f"Field '{field}' is not contained in the event keys {keys}.")
        value = body[field]
        if value is None:
            raise ValueError(f"Field '{field}' exists but its value is None.")
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            if not value:
                raise FieldRoutingError(f"The value of the key '{field}' cannot be an empty list.")
            return value  # type: ignore[return-value]
        raise TypeError(
            f"Field '{field}' must be a string or list of strings but is instead of type "
            f"'{type(value).__name__}'."
        )


class Merge:
    """Wait for one result per upstream branch of the same event; emit their bodies as a list.

    `expected_num_events` overrides the count (default: the number of upstream steps); the list
    is in `after` order. `key_path` takes the key from the body instead of the event id.
    """

    stateful = "merge"

    def __init__(
        self,
        full_event: bool | None = None,
        key_path: str | None = None,
        max_behind: int | None = None,
        expected_num_events: int | None = None,
        name: str | None = None,
        **kw: Any,
    ) -> None:
        self.name = name
        self.key_path = key_path
        self.max_behind = max_behind or 64
        self.expected_num_events = expected_num_events
        self.upstreams: list[str] = []
        self._key_fn: Callable[[Any], Any] | None = None

    def key_of(self, event: Event) -> str:
        """The merge key: the event id, a body key, or an expression over `event` (the body)."""
        if not self.key_path:
            return event.id
        if self._key_fn is None:
            path = self.key_path
            if any(c in path for c in "[("):  # an expression over the body, as MLRun
                self._key_fn = eval(f"lambda event: {path}", {})
            else:
                self._key_fn = lambda body: body[path] if isinstance(body, dict) else None
        key = self._key_fn(event.body)
        return str(key if key is not None else event.id)

    def add(self, state: MutableMapping[str, Any], event: Event) -> list[Any] | None:
        """Record this branch's body; return the merged list when every branch has arrived."""
        key = self.key_of(event)
        arrived: dict[str, Any] = dict(state.get(key) or {})
        slot = event.source or ""
        if slot in arrived:  # the same branch twice (a cycle, or a redelivery): keep a slot each
            slot = f"{slot}#{len(arrived)}"
        arrived[slot] = event.body
        expected = self.expected_num_events or len(self.upstreams) or 1
        if len(arrived) < expected:
            state[key] = arrived
            return None
        state.pop(key, None)
        order = {name: i for i, name in enumerate(self.upstreams)}
        ranked = sorted(arrived.items(), key=lambda kv: order.get(kv[0].split("#")[0], len(order)))
        return [body for _, body in ranked]


class Collector:
    """Gather the chunks of a stream into one list, emitted when the stream ends."""

    stateful = "collector"

    def __init__(self, name: str | None = None, **kw: Any) -> None:
        self.name = name

    def add(self, state: MutableMapping[str, Any], event: Event) -> list[Any] | None:
        key = event.id
        if event.end_of_stream:
            chunks: dict[str, Any] = dict(state.pop(key, None) or {})
            return [chunks[k] for k in sorted(chunks, key=int)]
        if event.chunk is None:  # not a stream: a list of one
            return [event.body]
        chunks = dict(state.get(key) or {})
        chunks[str(event.chunk)] = event.body
        state[key] = chunks
        return None


class Batch:
    """Group bodies into lists of up to `max_events`, flushed after `flush_after_seconds`.

    What the step does with its events (buffers, timers, what a flush emits) is the same on
    every engine: `core.batching`. Without `max_events` a batch has no size bound, without
    `flush_after_seconds` no timer, as in storey.
    """

    stateful = "batch"

    def __init__(
        self,
        max_events: int | None = None,
        flush_after_seconds: float | None = None,
        key_field: str | Callable[[Any], Any] | None = None,
        name: str | None = None,
        **kw: Any,
    ) -> None:
        if not max_events and not flush_after_seconds:
            raise ValueError("Batch needs max_events or flush_after_seconds")
        self.name = name
        self.max_events = max_events
        self.flush_after_seconds = flush_after_seconds
        self.key_field = key_field

    def key_of(self, event: Event) -> str:
        if self.key_field is None:
            return ""
        if callable(self.key_field):
            return str(self.key_field(event.body))
        if self.key_field == "$key":
            return event.id
        return str(event.body.get(self.key_field)) if isinstance(event.body, dict) else ""


__all__ = [
    "Batch",
    "Choice",
    "ChoiceByField",
    "Collector",
    "Extend",
    "Filter",
    "FlatMap",
    "Map",
    "Merge",
]
