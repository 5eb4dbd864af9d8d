"""The event that flows through a graph, in every engine.

On Kafka the same fields travel as the record key (id), value (body) and `sg-` headers; in
process they are attributes. Slots keep it small: one is made per request and per branch.
"""

from __future__ import annotations

import copy
import itertools
import os
from typing import Any

# Event ids: a per-process random prefix and a counter; unique across workers, and far cheaper
# than uuid4 on the request path.
_PREFIX = os.urandom(6).hex() + "-"
_COUNTER = itertools.count(1)


def new_event_id() -> str:
    return _PREFIX + format(next(_COUNTER), "x")


class Event:
    """One request (or one chunk of a stream) moving through the graph."""

    __slots__ = (
        "body",
        "chunk",
        "content_type",
        "deadline",
        "end_of_stream",
        "error",
        "headers",
        "id",
        "members",
        "method",
        "origin_state",
        "path",
        "reply",
        "source",
        "stream_from",
        "trace",
        "visits",
    )

    def __init__(
        self,
        body: Any = None,
        id: str | None = None,
        path: str = "/",
        method: str = "POST",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.body = body
        self.id = id or _PREFIX + format(next(_COUNTER), "x")  # (new_event_id() without a call)
        self.path = path
        self.method = method
        self.headers: dict[str, str] = headers if headers is not None else {}
        self.content_type = content_type
        self.error: str | None = None
        self.origin_state: str | None = None
        # per-step visit counts for cycles; only allocated in cyclic graphs
        self.visits: dict[str, int] | None = None
        # the step that emitted this event (Merge needs to know which branch arrived)
        self.source: str | None = None
        # streaming: chunk sequence number, end marker, and the step that streamed it
        self.chunk: int | None = None
        self.end_of_stream = False
        self.stream_from: str | None = None
        # engine-specific: where the answer goes (a local Reply, or Kafka reply coordinates)
        self.reply: Any = None
        # a batched event carries the events it was made of, so each one is answered
        self.members: list[Event] | None = None
        # when the caller stops waiting (epoch seconds; `core.request_deadline`), and the W3C
        # traceparent of the span that caused this event (`core.tracing`)
        self.deadline: float | None = None
        self.trace: str | None = None

    def copy(self, body: Any = ...) -> Event:
        """A shallow copy for another branch (the body object is shared unless given)."""
        new = Event.__new__(Event)
        new.body = self.body if body is ... else body
        new.id = self.id
        new.path = self.path
        new.method = self.method
        new.headers = self.headers
        new.content_type = self.content_type
        new.error = self.error
        new.origin_state = self.origin_state
        new.visits = dict(self.visits) if self.visits is not None else None
        new.source = self.source
        new.chunk = self.chunk
        new.end_of_stream = self.end_of_stream
        new.stream_from = self.stream_from
        new.reply = self.reply
        new.members = self.members
        new.deadline = self.deadline
        new.trace = self.trace
        return new

    def branch(self) -> Event:
        """A copy for a parallel branch, with its own body: a branch's changes stay its own (as
        on Kafka, where each branch is a separate record, and as storey deep-copies)."""
        return self.copy(body=copy.deepcopy(self.body))

    @property
    def key(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Event(id={self.id!r}, path={self.path!r}, body={self.body!r})"
