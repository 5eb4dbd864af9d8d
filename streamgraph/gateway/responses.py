"""JSON answers of the gateway: a value with its status, an error as `{"error": "..."}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..errors import HTTPError, describe


def error_response(exc: BaseException) -> web.Response:
    status = exc.status_code if isinstance(exc, HTTPError) else 500
    return json_response({"error": describe(exc)}, status)


def json_response(value: Any, status: int) -> web.Response:
    """orjson's bytes as the body: not `web.json_response`, whose dumps returns a str that is
    then encoded again, on every answer."""
    body = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
    return web.Response(body=body, status=status, content_type="application/json")


__all__ = ["error_response", "json_response"]
