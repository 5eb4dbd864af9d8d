"""How a request body is read: JSON when it parses (or must), text when asked for."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import BadRequestError

JSON_TYPES = ("application/json", "json")
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
