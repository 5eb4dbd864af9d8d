"""OpenAI's shapes, without HTTP: a request as the graph's event body, the graph's answer (or
its chunks) as a chat completion or a response, and OpenAI's error envelope.

The answer's text: a string (bytes decoded) as it is; a dict or list holding an `LLModel`
result (`{"answer": text, "usage": {...}}`, at any depth, as a `ModelRunnerStep` nests it
under the endpoint's name) gives that answer and its usage; anything else is sent as its JSON.
A graph that answers OpenAI's shape itself (`"object": "chat.completion"` or `"response"`, as
MLRun's handlers do) is passed through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from ..serving.openai_mappings import CHAT_FIELDS, RESPONSES_FIELDS

Usage = dict[str, int]
FIND_DEPTH = 6  # how deep an LLModel result is looked for in a nested answer


class OpenAIError(Exception):
    """An error answered in OpenAI's shape: `{"error": {message, type, param, code}}`."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    @property
    def type(self) -> str:
        if self.status == 401:
            return "authentication_error"
        return "invalid_request_error" if self.status < 500 else "server_error"

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def missing(param: str) -> OpenAIError:
    return OpenAIError(
        400, f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    )


def invalid(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, message, param, "invalid_value")


# -- requests: the graph's event body --------------------------------------------------------
def text_of(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def chat_body(request: dict[str, Any], input_key: str | None) -> dict[str, Any]:
    """The event body of a chat completion request (400 without messages)."""
    messages = request.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "'messages' must be a non-empty array of messages.")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise invalid("messages", "each message must be an object with a 'role'.")
    body = {k: v for k, v in request.items() if k in CHAT_FIELDS}
    if input_key:
        body[input_key] = last_user_text(messages)
    return body


def responses_body(request: dict[str, Any], input_key: str | None) -> dict[str, Any]:
    """The event body of a Responses API request; `messages` holds its instructions and input
    as chat messages, so one graph serves both APIs."""
    given = request.get("input")
    if given is None and request.get("prompt") is None:
        raise missing("input")
    messages: list[dict[str, Any]] = []
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if isinstance(item, dict) and isinstance(item.get("role"), str):
                messages.append({"role": item["role"], "content": text_of(item.get("content"))})
    elif given is not None:
        raise invalid("input", "'input' must be a string or an array of input items.")
    body = {k: v for k, v in request.items() if k in RESPONSES_FIELDS}
    body["messages"] = messages
    if input_key:
        body[input_key] = last_user_text(messages)
    return body


# -- answers: text and usage -------------------------------------------------------------------
def _llm_result(value: Any, depth: int = 0) -> tuple[str, Usage | None] | None:
    if depth > FIND_DEPTH:
        return None
    if isinstance(value, dict):
        answer = value.get("answer")
        if isinstance(answer, str):
            usage = value.get("usage")
            return answer, usage if isinstance(usage, dict) else None
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _llm_result(item, depth + 1)
        if found is not None:
            return found
    return None


def answer_text(body: Any) -> tuple[str, Usage | None]:
    """The assistant's text in a graph's answer (or in one chunk of it), and its usage."""
    if isinstance(body, str):
        return body, None
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", "replace"), None
    if isinstance(body, dict | list):
        found = _llm_result(body)
        if found is not None:
            return found
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY).decode(), None


def passes_through(body: Any, kind: str) -> bool:
    """A graph that answered OpenAI's shape itself."""
    return isinstance(body, dict) and body.get("object") == kind


# -- chat completions --------------------------------------------------------------------------
def chat_usage(usage: Usage) -> dict[str, int]:
    given, made = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": given, "completion_tokens": made, "total_tokens": given + made}


def chat_completion(cid: str, model: str, text: str, usage: Usage | None) -> dict[str, Any]:
    completion: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        completion["usage"] = chat_usage(usage)
    return completion


class ChatChunks:
    """The `chat.completion.chunk` objects of one streamed completion."""

    def __init__(self, cid: str, model: str) -> None:
        self.base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time())}
        self.model = model

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self.base, "model": self.model, "choices": [choice]}

    def start(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""}, None)

    def delta(self, text: str) -> dict[str, Any]:
        return self._chunk({"content": text}, None)

    def stop(self) -> dict[str, Any]:
        return self._chunk({}, "stop")


# -- responses ---------------------------------------------------------------------------------
def response_usage(usage: Usage) -> dict[str, Any]:
    given, made = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {
        "input_tokens": given,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": made,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": given + made,
    }


class ResponseShapes:
    """A Responses API `response`, whole or as the events of its stream."""

    def __init__(self, rid: str, model: str, request: dict[str, Any]) -> None:
        self.rid, self.mid, self.model, self.request = rid, f"msg_{rid[5:]}", model, request
        self.created = int(time.time())
        self.sequence = 0

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def message(self, text: str | None) -> dict[str, Any]:
        done = text is not None
        return {
            "id": self.mid,
            "type": "message",
            "status": "completed" if done else "in_progress",
            "role": "assistant",
            "content": [self.part(text)] if text is not None else [],
        }

    def response(self, text: str | None, usage: Usage | None = None) -> dict[str, Any]:
        """The response object: completed with `text`, in progress without."""
        request = self.request
        return {
            "id": self.rid,
            "object": "response",
            "created_at": self.created,
            "status": "completed" if text is not None else "in_progress",
            "error": None,
            "incomplete_details": None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "model": self.model,
            "output": [self.message(text)] if text is not None else [],
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "temperature": request.get("temperature"),
            "text": {"format": {"type": "text"}},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools") or [],
            "top_p": request.get("top_p"),
            "truncation": request.get("truncation", "disabled"),
            "usage": response_usage(usage) if usage is not None else None,
            "metadata": request.get("metadata") or {},
        }

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.sequence += 1
        return {"type": kind, "sequence_number": self.sequence - 1, **fields}

    def opening(self) -> Iterator[dict[str, Any]]:
        yield self.event("response.created", response=self.response(None))
        yield self.event("response.in_progress", response=self.response(None))
        yield self.event("response.output_item.added", item=self.message(None), output_index=0)
        at: dict[str, Any] = {"item_id": self.mid, "output_index": 0, "content_index": 0}
        yield self.event("response.content_part.added", part=self.part(""), **at)

    def delta(self, text: str) -> dict[str, Any]:
        at = {"item_id": self.mid, "output_index": 0, "content_index": 0}
        return self.event("response.output_text.delta", delta=text, logprobs=[], **at)

    def closing(self, text: str) -> Iterator[dict[str, Any]]:
        at: dict[str, Any] = {"item_id": self.mid, "output_index": 0, "content_index": 0}
        yield self.event("response.output_text.done", text=text, logprobs=[], **at)
        yield self.event("response.content_part.done", part=self.part(text), **at)
        yield self.event("response.output_item.done", item=self.message(text), output_index=0)
        yield self.event("response.completed", response=self.response(text))


def model_object(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "streamgraph"}


__all__ = [
    "ChatChunks",
    "OpenAIError",
    "ResponseShapes",
    "answer_text",
    "chat_body",
    "chat_completion",
    "model_object",
    "passes_through",
    "responses_body",
]
