"""What `fn.set_openai_frontend()` declares: the OpenAI endpoint groups a function's gateway
serves, under which path prefix, for which model names (MLRun's `openai_mappings`).

Plain data that travels with the function (`to_dict()`, the JSON spec workers and gateways
load); `streamgraph/gateway/openai.py` serves it. The request fields each group passes on to
the graph are the ones MLRun's input body mappings extract (the documented OpenAI fields;
others are dropped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import GraphError


class OpenAIEndpoint(StrEnum):
    """The OpenAI operation groups `set_openai_frontend()` can serve (MLRun's enum)."""

    RESPONSES = "responses"
    CHAT_COMPLETIONS = "chat_completions"


# the request fields the graph's event gets, per group (MLRun's input body mappings)
CHAT_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
RESPONSES_FIELDS = frozenset(
    {
        "background",
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)


@dataclass(frozen=True)
class OpenAIFrontend:
    """One function's OpenAI frontend.

    `models`: the names a request's `model` may take (GET /v1/models lists them); empty means
    the function's name. `input_key`: also put the text of the last user message at this key of
    the event body, for graphs that take one question rather than a chat.
    """

    endpoints: tuple[OpenAIEndpoint, ...] = tuple(OpenAIEndpoint)
    prefix: str = "/v1"
    models: tuple[str, ...] = ()
    input_key: str | None = None

    @classmethod
    def build(
        cls,
        endpoints: Iterable[OpenAIEndpoint | str] | None = None,
        prefix: str | None = "/v1",
        models: Iterable[str] | str | None = None,
        input_key: str | None = None,
    ) -> OpenAIFrontend:
        """Checked values (a bad one is a `GraphError` when the function is declared)."""
        groups: list[OpenAIEndpoint] = []
        for group in endpoints if endpoints is not None else OpenAIEndpoint:
            try:
                value = OpenAIEndpoint(group)
            except ValueError:
                known = ", ".join(e.value for e in OpenAIEndpoint)
                raise GraphError(f"unknown OpenAI endpoint group {group!r}: {known}") from None
            if value not in groups:
                groups.append(value)
        if not groups:
            raise GraphError("set_openai_frontend: give at least one endpoint group")
        prefix = (prefix or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise GraphError(f"the OpenAI frontend prefix must start with '/' (got {prefix!r})")
        names = (models,) if isinstance(models, str) else tuple(models or ())
        if any(not isinstance(n, str) or not n for n in names):
            raise GraphError(f"model names must be non-empty strings (got {names!r})")
        if input_key is not None and not (isinstance(input_key, str) and input_key):
            raise GraphError(f"input_key must be a non-empty string (got {input_key!r})")
        return cls(tuple(groups), prefix, names, input_key)

    def model_names(self, function_name: str) -> tuple[str, ...]:
        return self.models or (function_name,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoints": [e.value for e in self.endpoints],
            "prefix": self.prefix,
            "models": list(self.models),
            "input_key": self.input_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenAIFrontend:
        return cls.build(
            data.get("endpoints"), data.get("prefix"), data.get("models"), data.get("input_key")
        )


__all__ = ["CHAT_FIELDS", "RESPONSES_FIELDS", "OpenAIEndpoint", "OpenAIFrontend"]
