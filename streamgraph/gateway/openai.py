"""The OpenAI frontend of a gateway (`fn.set_openai_frontend()`): OpenAI's clients call a graph.

`POST {prefix}/chat/completions` and `POST {prefix}/responses` send one event to the graph
(`openai_shapes` says what its body holds) through the gateway's backend, Kafka or in process,
and answer OpenAI's shape; `"stream": true` is answered as server-sent events, one per chunk
of a streaming step as it arrives (`data: {...}` lines, then `data: [DONE]`), or one with the
whole answer when the graph does not stream. `GET {prefix}/models` lists the names `model` may
take. Errors are OpenAI's `{"error": {message, type, param, code}}` with their status: 400 bad
request, 404 unknown model, the step's status for step errors, 504 no answer in time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from ..core.event import Event
from ..core.request_deadline import request_timeout, set_deadline
from ..errors import HTTPError, describe
from ..serving.openai_mappings import OpenAIEndpoint, OpenAIFrontend
from ..wire.codec import travels
from ..wire.requester import Answer
from .backend import REQUESTER, SETTINGS
from .openai_shapes import (
    ChatChunks,
    OpenAIError,
    ResponseShapes,
    answer_text,
    chat_body,
    chat_completion,
    model_object,
    passes_through,
    responses_body,
)
from .responses import json_response

logger = logging.getLogger("streamgraph.gateway.openai")


@dataclass(frozen=True)
class Served:
    frontend: OpenAIFrontend
    models: tuple[str, ...]
    created: int  # when this gateway started serving them (the models' `created`)


SERVED = web.AppKey("openai", Served)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_openai(app: web.Application, frontend: OpenAIFrontend, function: str) -> None:
    """Add the frontend's routes (before the gateway's catch-all route)."""
    app[SERVED] = Served(frontend, frontend.model_names(function), int(time.time()))
    prefix = frontend.prefix
    if OpenAIEndpoint.CHAT_COMPLETIONS in frontend.endpoints:
        app.router.add_post(f"{prefix}/chat/completions", _guarded(chat_completions))
    if OpenAIEndpoint.RESPONSES in frontend.endpoints:
        app.router.add_post(f"{prefix}/responses", _guarded(responses))
    app.router.add_get(f"{prefix}/models", list_models)
    app.router.add_get(f"{prefix}/models/{{model}}", _guarded(get_model))


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except OpenAIError as exc:
            return error_response(exc)

    return guarded


def error_response(exc: OpenAIError) -> web.Response:
    return json_response(exc.body(), exc.status)


def as_openai_error(exc: BaseException) -> OpenAIError:
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, HTTPError):
        code = "timeout" if exc.status_code == 504 else None
        return OpenAIError(exc.status_code, describe(exc), code=code)
    logger.exception("OpenAI request failed", exc_info=exc)
    return OpenAIError(500, describe(exc))


# -- models ------------------------------------------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    served = request.app[SERVED]
    data = [model_object(name, served.created) for name in served.models]
    return json_response({"object": "list", "data": data}, 200)


async def get_model(request: web.Request) -> web.Response:
    served = request.app[SERVED]
    name = request.match_info["model"]
    return json_response(model_object(_check_model(served, name), served.created), 200)


def _check_model(served: Served, model: Any, required: bool = True) -> str:
    if model is None and not required:
        return served.models[0]
    if not isinstance(model, str) or not model:
        raise OpenAIError(
            400, "Missing required parameter: 'model'.", "model", "missing_required_parameter"
        )
    if model not in served.models:
        known = ", ".join(served.models)
        raise OpenAIError(
            404,
            f"The model `{model}` does not exist; this endpoint serves: {known}.",
            "model",
            "model_not_found",
        )
    return model


# -- chat completions and responses ------------------------------------------------------------
async def chat_completions(request: web.Request) -> web.StreamResponse:
    served = request.app[SERVED]
    body = await _read(request)
    fields = chat_body(body, served.frontend.input_key)  # 400 before the model check
    model = _check_model(served, body.get("model"))
    event = _event(request, fields)
    answer = await _ask(request, event)
    cid = f"chatcmpl-{event.id}"
    if body.get("stream") is True:
        chunks = ChatChunks(cid, model)
        opening, closing = [chunks.start()], lambda _: [chunks.stop()]
        return await _sse(request, answer, opening, chunks.delta, closing)
    whole = await _whole(answer)
    if passes_through(whole, "chat.completion"):
        return json_response(whole, 200)
    text, usage = answer_text(whole)
    return json_response(chat_completion(cid, model, text, usage), 200)


async def responses(request: web.Request) -> web.StreamResponse:
    served = request.app[SERVED]
    body = await _read(request)
    fields = responses_body(body, served.frontend.input_key)
    model = _check_model(served, body.get("model"), required=False)
    event = _event(request, fields)
    answer = await _ask(request, event)
    shapes = ResponseShapes(f"resp_{event.id}", model, body)
    if body.get("stream") is True:
        return await _sse(request, answer, shapes.opening(), shapes.delta, shapes.closing, True)
    whole = await _whole(answer)
    if passes_through(whole, "response"):
        return json_response(whole, 200)
    text, usage = answer_text(whole)
    return json_response(shapes.response(text, usage), 200)


async def _read(request: web.Request) -> dict[str, Any]:
    limit = request.app[SETTINGS].max_body_bytes
    if (request.content_length or 0) > limit:
        raise OpenAIError(413, f"the body is over {limit} bytes")
    raw = await request.read()
    if len(raw) > limit:
        raise OpenAIError(413, f"the body is over {limit} bytes")
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise OpenAIError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise OpenAIError(400, "the body must be a JSON object")
    return body


def _event(request: web.Request, fields: dict[str, Any]) -> Event:
    headers = {k: v for k, v in request.headers.items() if travels(k)}
    return Event(fields, None, request.path, "POST", headers, "application/json")


async def _ask(request: web.Request, event: Event) -> Answer:
    try:
        # as the plain relay: the caller's X-Request-Timeout may lower the gateway's timeout
        timeout = request_timeout(request.headers, request.app[SETTINGS].request_timeout_seconds)
        set_deadline(event, timeout)  # past it, workers drop the event instead of running it
        answer = await request.app[REQUESTER].request(event, timeout)
    except Exception as exc:
        raise as_openai_error(exc) from exc
    if answer.status >= 300:
        raise _step_error(answer)
    return answer


def _step_error(answer: Answer) -> OpenAIError:
    body = answer.body
    message = body.get("error") if isinstance(body, dict) else body
    if isinstance(message, bytes | bytearray):
        message = bytes(message).decode("utf-8", "replace")
    return OpenAIError(answer.status, str(message))


async def _whole(answer: Answer) -> Any:
    """The answer in one piece: a streaming step's chunks joined as text."""
    if answer.chunks is None:
        return answer.body
    parts: list[str] = []
    try:
        async for chunk in answer.chunks:
            parts.append(answer_text(chunk)[0])
    except Exception as exc:
        raise as_openai_error(exc) from exc
    return "".join(parts)


async def _sse(
    request: web.Request,
    answer: Answer,
    opening: Iterable[dict[str, Any]],
    delta: Callable[[str], dict[str, Any]],
    closing: Callable[[str], Iterable[dict[str, Any]]],
    named: bool = False,
) -> web.StreamResponse:
    """Server-sent events: the opening events, a delta per chunk, the closing ones. An error
    before the first chunk still gets its status; after it, an error event ends the stream.
    `named`: each event has an `event:` line with its type (the Responses API's framing)."""
    chunks = answer.chunks if answer.chunks is not None else _single(answer.body)
    try:
        first = await anext(chunks, None)
    except Exception as exc:
        raise as_openai_error(exc) from exc
    response = web.StreamResponse(
        status=200, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    response.content_type = "text/event-stream"
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def send(data: dict[str, Any]) -> None:
        name = f"event: {data['type']}\n".encode() if named else b""
        await response.write(name + b"data: " + orjson.dumps(data) + b"\n\n")

    text: list[str] = []
    try:
        for data in opening:
            await send(data)
        if first is not None:
            text.append(answer_text(first)[0])
            await send(delta(text[-1]))
            async for chunk in chunks:
                text.append(answer_text(chunk)[0])
                await send(delta(text[-1]))
        for data in closing("".join(text)):
            await send(data)
        if not named:  # the Responses API ends with response.completed, chat with [DONE]
            await response.write(b"data: [DONE]\n\n")
    except Exception as exc:  # mid-stream: the status is sent; the client raises on this event
        logger.error("OpenAI stream for %s ended early: %s", request.path, exc)
        try:
            await send({"type": "error", **as_openai_error(exc).body()})
        except ConnectionError:  # the client went away: nobody to tell
            return response
    await response.write_eof()
    return response


async def _single(body: Any) -> AsyncIterator[Any]:
    """A graph that does not stream answers in one piece: one chunk."""
    yield body


__all__ = ["install_openai"]
