"""The HTTP gateway: synchronous callers talk to a graph that runs on Kafka.

Every request becomes an event on the function's entry topic (path, method, content type and
`x-*` headers travel with it); the answer comes back on this instance's reply topic. Answers of
streaming steps are relayed as chunked HTTP as their chunk records arrive. Errors are JSON
`{"error": "..."}` with their status: 400 bad JSON (refused before Kafka), 413 too large, 503
not connected, 504 no reply in time, and the step's own status for step errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from ..connection.kafka_security import kafka_security
from ..core import tracing
from ..core.content import request_event
from ..core.event import Event
from ..core.request_deadline import request_timeout, set_deadline
from ..errors import (
    BadRequestError,
    HTTPError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from ..settings import Settings
from ..wire.codec import travels
from ..wire.requester import KafkaRequester
from .backend import REQUESTER, SETTINGS, Backend
from .metrics import install_metrics
from .responses import error_response, json_response

logger = logging.getLogger("streamgraph.gateway")


def _encode_chunk(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value) + b"\n"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    backend = request.app[REQUESTER]
    if backend.ready:
        # which process answered, and its reply topic: tells the gateways on one port apart
        return web.json_response(
            {
                "status": "ready",
                "pid": os.getpid(),
                "reply_topic": getattr(backend, "reply_topic", None),
                "replies": getattr(backend, "replies", None),
                "late_replies": backend.late_replies,
            }
        )
    # JSON {"error": "ServiceUnavailableError: ..."}, saying what is missing
    return error_response(ServiceUnavailableError(backend.waiting_for or "not ready"))


REQUEST_ID = "X-Request-Id"
MAX_REQUEST_ID = 256  # characters: it becomes the record key of every record of the request
GATEWAY_SERVICE = "streamgraph-gateway"  # service.name of its spans unless set in settings


def _request_id(request: web.Request) -> str | None:
    """The caller's own X-Request-Id, if any: it becomes the event id (MLRUN-EVENT-ID wins)."""
    given = request.headers.get(REQUEST_ID)
    if given is not None and not 0 < len(given) <= MAX_REQUEST_ID:
        raise BadRequestError(f"{REQUEST_ID} must be 1 to {MAX_REQUEST_ID} characters")
    return given


async def relay(request: web.Request) -> web.StreamResponse:
    """Any other path: one event to the graph, its answer back. Every answer names the event
    in `X-Request-Id`, the id `streamgraph inspect FUNCTION --request-id ID` looks for."""
    if not tracing.ENABLED:
        return await _relay(request, None)
    spans: list[Any] = []  # the request's span, once its event exists
    status = 500
    try:
        response = await _relay(request, spans)
        status = response.status
        return response
    finally:
        for span in spans:
            span.set_attribute("http.response.status_code", status)
            tracing.end_span(span, f"HTTP {status}" if status >= 500 else None)


async def _relay(request: web.Request, spans: list[Any] | None) -> web.StreamResponse:
    """`relay`; with `spans` (tracing on) the request's span is made and put there."""
    settings = request.app[SETTINGS]
    event: Event | None = None
    try:
        # the caller may ask for less time than the gateway's timeout (never for more)
        timeout = request_timeout(request.headers, settings.request_timeout_seconds)
        if (request.content_length or 0) > settings.max_body_bytes:
            raise PayloadTooLargeError(f"the body is over {settings.max_body_bytes} bytes")
        raw = await request.read()
        if len(raw) > settings.max_body_bytes:
            raise PayloadTooLargeError(f"the body is over {settings.max_body_bytes} bytes")
        content_type = request.headers.get("Content-Type")
        event = request_event(  # bad JSON: 400, before Kafka
            raw or None,
            request.path,
            request.method,
            request.headers,
            content_type,
            _request_id(request),
            keep_headers=travels,
        )
        if request.query_string:
            event.headers["x-query"] = request.query_string
        set_deadline(event, timeout)  # past it, workers drop the event instead of running it
        if spans is not None:  # the gateway's span: child of the caller's traceparent, if any
            spans.append(
                tracing.start_span(
                    f"{request.method} {request.path}",
                    event,
                    "SERVER",
                    {"http.request.method": request.method, "url.path": request.path},
                )
            )
        answer = await request.app[REQUESTER].request(event, timeout)
    except Exception as exc:
        if not isinstance(exc, HTTPError):
            logger.exception("gateway request failed")
        failed = error_response(exc)
        if event is not None:
            failed.headers[REQUEST_ID] = event.id
        return failed
    if answer.chunks is not None:
        return await _stream(request, answer.chunks, event.id)
    response: web.Response
    if answer.status >= 300 and not isinstance(answer.body, dict):
        response = json_response({"error": str(answer.body)}, answer.status)
    elif isinstance(answer.body, bytes | bytearray):
        response = web.Response(
            body=bytes(answer.body), status=answer.status, headers=answer.headers
        )
    elif isinstance(answer.body, str):
        response = web.Response(text=answer.body, status=answer.status)
    else:
        response = json_response(answer.body, answer.status)
    response.headers[REQUEST_ID] = event.id
    return response


async def _stream(
    request: web.Request, chunks: AsyncIterator[Any], request_id: str
) -> web.StreamResponse:
    """Relay chunks as they arrive. The first chunk sets the content type (text for strings,
    JSON lines otherwise), and an error before it still gets its own status."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except Exception as exc:
        failed = error_response(exc)
        failed.headers[REQUEST_ID] = request_id
        return failed
    response = web.StreamResponse(status=200, headers={REQUEST_ID: request_id})
    if isinstance(first, str):
        response.content_type, response.charset = "text/plain", "utf-8"
    elif not isinstance(first, bytes | bytearray):
        response.content_type = "application/x-ndjson"
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(_encode_chunk(first))
        async for chunk in chunks:
            await response.write(_encode_chunk(chunk))
    except Exception as exc:  # mid-stream: the status is sent already; end early and log
        logger.error("stream for %s ended early: %s", request.path, exc)
    await response.write_eof()
    return response


OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def bearer_auth(tokens: frozenset[str]) -> Any:
    """401 unless `Authorization: Bearer <token>` names an accepted token (health stays open)."""

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token.strip() not in tokens:
                return web.json_response(
                    {"error": "UnauthorizedError: a valid bearer token is required"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        response: web.StreamResponse = await handler(request)
        return response

    return check


def make_app(
    requester: Backend,
    settings: Settings,
    function: str,
    openai: dict[str, Any] | None = None,
) -> web.Application:
    """The aiohttp application; the requester is started and stopped with it. `openai`: the
    function's `spec.openai_frontend` (`fn.set_openai_frontend()`), served under its prefix."""
    tracing.configure(settings.otel_endpoint, settings.otel_service_name or GATEWAY_SERVICE)
    tokens = frozenset(
        t.strip() for t in settings.gateway_tokens.get_secret_value().split(",") if t.strip()
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes + 1024,
        middlewares=[bearer_auth(tokens)] if tokens else [],
    )
    app[REQUESTER] = requester
    app[SETTINGS] = settings

    async def lifecycle(app: web.Application) -> Any:
        await requester.start()
        yield
        await requester.stop()

    app.cleanup_ctx.append(lifecycle)
    install_metrics(app, function, requester)  # GET /metrics
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if openai is not None:  # imported only when on: no routes, no cost otherwise
        from ..serving.openai_mappings import OpenAIFrontend
        from .openai import install_openai

        install_openai(app, OpenAIFrontend.from_dict(openai), function)
    app.router.add_route("*", "/{tail:.*}", relay)
    return app


def gateway_app(
    function_name: str, settings: Settings, openai: dict[str, Any] | None = None
) -> web.Application:
    """A gateway for `function_name`'s entry topic on `settings.brokers` (with the function's
    OpenAI frontend when `openai` is its `spec.openai_frontend`)."""
    requester = KafkaRequester(
        settings.brokers,
        settings.topic(function_name, "in"),
        linger_ms=settings.producer_linger_ms,
        max_request_bytes=settings.max_body_bytes,
        client=settings.gateway_kafka_client,
        send_timeout=settings.request_timeout_seconds,
        keep_trying=True,  # up before the broker: not ready (/readyz 503) until it answers
        security=kafka_security(settings),
    )
    return make_app(requester, settings, function_name, openai)
