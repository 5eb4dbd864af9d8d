"""How a request becomes an event: the body read as JSON when it parses (or must), text when
asked for; MLRun's id and path headers honoured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..errors import BadRequestError
from .event import Event
from .tracing import valid_traceparent

JSON_TYPES = ("application/json", "json")
# bodies that may need decoding (a tuple: isinstance takes it faster than a union)
_TEXTUAL = (str, bytes, bytearray)
TEXT_TYPES = ("application/text", "text/plain")


def is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    return base in JSON_TYPES or base.endswith("+json")


def decode_body(body: Any, content_type: str | None) -> Any:
    """Parse a str/bytes body as MLRun does.

    No content type: JSON if it parses, else kept as is. A JSON content type: must parse (400).
    A text content type (`application/text`): kept a string.
    """
    if not isinstance(body, str | bytes | bytearray):
        return body
    base = content_type.split(";", 1)[0].strip().lower() if content_type else ""
    if base in TEXT_TYPES:
        return body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    if base and not is_json_type(base):
        return body
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if base:
            raise BadRequestError(f"failed to json decode event, {exc}") from None
        return body


# MLRun's request headers: a caller (or MLRun's RemoteStep) names the event id and path
EVENT_ID_HEADER = "mlrun-event-id"
EVENT_PATH_HEADER = "mlrun-event-path"
# the W3C trace context of the caller (`core.tracing`)
TRACEPARENT = "traceparent"


def request_event(
    body: Any,
    path: str = "/",
    method: str = "",
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    event_id: str | None = None,
    *,
    keep_headers: Callable[[str], bool] | None = None,
) -> Event:
    """The event a request becomes, on every engine and front end, as MLRun's server makes it.

    The body is read by its content type (bad JSON: 400); `MLRUN-EVENT-ID` and
    `MLRUN-EVENT-PATH` (any case) override the event id and path; the method is POST with a
    body and GET without unless given. `keep_headers` chooses the headers the event keeps
    (all of them by default; the gateway keeps those that travel on Kafka). A valid W3C
    `traceparent` becomes the event's trace context (an invalid one is ignored, as W3C says).
    """
    kept: dict[str, str] = {}
    trace = None
    if headers:
        for name, value in headers.items():
            lower = name.lower()
            if lower == EVENT_ID_HEADER:
                event_id = value
            elif lower == EVENT_PATH_HEADER:
                path = value
            elif lower == TRACEPARENT:
                trace = valid_traceparent(value)
            if keep_headers is None or keep_headers(name):
                kept[str(name)] = value
    method = method.upper() if method else "POST" if body is not None else "GET"
    if isinstance(body, _TEXTUAL):
        body = decode_body(body, content_type)
    event = Event(body, event_id, path or "/", method, kept, content_type)
    if trace is not None:
        event.trace = trace
    return event
