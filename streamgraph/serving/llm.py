"""`LLModel`: a model that fills an LLM prompt template from the event and calls a provider.

The prompt comes from an `LLMPromptArtifact` (the model's own, or the one a shared-model proxy
passes with each call). Each `{placeholder}` is filled from the body (at `input_path`): from
the key of the same name, or from the key the legend's `field` names. Missing placeholders
stay as written, with a warning. The provider is the one the model artifact's `model_url`
names; the answer goes to `result_path` (default `outputs`) of the body as
`{"answer": ..., "usage": {"prompt_tokens", "completion_tokens"}}`. With streaming on, the
prediction is the answer's tokens, one chunk each.
"""

from __future__ import annotations

import asyncio
import logging
import string
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..core.paths import get_path, set_path, split_path
from ..errors import GraphError, StreamingError
from .artifacts import Artifact, LLMPromptArtifact
from .model import Model
from .providers import Message, ModelProvider, Usage

logger = logging.getLogger("streamgraph.serving.llm")

USAGE_FIELDS = ["answer", "usage"]  # MLRun's UsageResponseKeys.fields()
_FORMATTER = string.Formatter()


def fill_template(template: str, values: dict[str, Any], missing: set[str]) -> str:
    """`template` with the placeholders found in `values` filled; others kept as written."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:
        missing.add(template)  # unbalanced braces: the text stays as it is
        return template
    out: list[str] = []
    for literal, field_name, format_spec, conversion in parts:
        out.append(literal)
        if field_name is None:
            continue
        root = field_name.split(".", 1)[0].split("[", 1)[0]
        if root and root in values:
            try:
                value, _ = _FORMATTER.get_field(field_name, (), values)
                value = _FORMATTER.convert_field(value, conversion)
                out.append(_FORMATTER.format_field(value, format_spec or ""))
                continue
            except (AttributeError, IndexError, KeyError, TypeError, ValueError):
                pass
        missing.add(field_name or "{}")
        conv = f"!{conversion}" if conversion else ""
        spec = f":{format_spec}" if format_spec else ""
        out.append(f"{{{field_name}{conv}{spec}}}")
    return "".join(out)


class LLModel(Model):
    """An LLM behind a prompt template. Use it directly or subclass it to enrich the call.

    `streaming=None` follows the server (the runner sets it from `context.streaming`).
    """

    def __init__(
        self,
        name: str | None = None,
        input_path: str | None = None,
        result_path: str | None = "outputs",
        streaming: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.input_path = input_path
        self.result_path = result_path
        self.streaming = streaming
        self._input_keys = split_path(input_path)
        self._result_keys = split_path(result_path)

    def init(self) -> None:
        super().init()
        if self.model_provider is None:
            method = "predict_async" if self.execution_mechanism == "asyncio" else "predict"
            if getattr(type(self), method) is getattr(LLModel, method):
                raise RuntimeError(
                    f"Model provider could not be determined for model '{self.name}', "
                    f"and the {method} function was not overridden."
                )
        elif self.streaming and not self.model_provider.supports_streaming:
            raise GraphError(
                "Streaming is enabled but model provider "
                f"'{type(self.model_provider).__name__}' does not support streaming"
            )

    def is_streaming(self) -> bool:
        return bool(self.streaming) or super().is_streaming()

    # -- prompt --------------------------------------------------------------------------------
    def enrich_prompt(
        self, body: Any, prompt: LLMPromptArtifact | None = None
    ) -> tuple[list[Message], dict[str, Any]]:
        """The messages to send and the invocation config, for this body and prompt."""
        data = get_path(body, self._input_keys)
        if prompt is None or not prompt.prompt_template:
            messages = data.get("messages") if isinstance(data, dict) else None
            config = dict(prompt.invocation_config) if prompt else {}
            return list(messages or []), config
        messages = prompt.read_prompt()
        if not isinstance(data, dict):
            logger.warning(
                "LLModel '%s': input is %s, not a dict; the prompt stays unformatted",
                self.name,
                type(data).__name__,
            )
            return messages, dict(prompt.invocation_config)
        values = dict(data)
        for placeholder, legend in prompt.prompt_legend.items():
            field = (legend or {}).get("field")
            if field and data.get(field) is not None:
                values[placeholder] = data[field]
        missing: set[str] = set()
        for message in messages:
            message["content"] = fill_template(str(message["content"]), values, missing)
        if missing:
            logger.warning(
                "LLModel '%s': input data is missing placeholder(s) %s; they stay unformatted",
                self.name,
                sorted(missing),
            )
        return messages, dict(prompt.invocation_config)

    def _prompt(self, artifact: Artifact | None) -> LLMPromptArtifact | None:
        return artifact if isinstance(artifact, LLMPromptArtifact) else self.invocation_artifact

    def _provider(self) -> ModelProvider:
        if self.model_provider is None:
            raise RuntimeError(f"LLModel '{self.name}' has no model provider (was it loaded?)")
        return self.model_provider

    def _answer(self, body: Any, text: str, usage: Usage) -> Any:
        result = {"answer": text, "usage": usage}
        return set_path(body, self._result_keys, result)

    def _check_messages(self, messages: list[Message] | None) -> list[Message]:
        if not messages:
            raise ValueError(
                f"LLModel '{self.name}': no prompt template and no 'messages' in the input"
            )
        return messages

    # -- sync ----------------------------------------------------------------------------------
    def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        prompt = self._prompt(artifact)
        if isinstance(body, list):
            body = self.format_batch(body)
            if isinstance(body, list):
                if self.is_streaming():
                    raise StreamingError(f"LLModel '{self.name}' cannot stream a batch")
                return [self._run_one(item, prompt) for item in body]
        return self._run_one(body, prompt)

    def _run_one(self, body: Any, prompt: LLMPromptArtifact | None) -> Any:
        messages, config = self.enrich_prompt(body, prompt)
        return self.predict(
            body, messages=messages, invocation_config=config, llm_prompt_artifact=prompt
        )

    def predict(
        self,
        body: Any,
        messages: list[Message] | None = None,
        invocation_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        provider, messages = self._provider(), self._check_messages(messages)
        if self.streaming:
            return self._stream(provider, messages, invocation_config or {})
        text, usage = provider.invoke(messages, **(invocation_config or {}))
        return self._answer(body, text, usage)

    @staticmethod
    def _stream(
        provider: ModelProvider, messages: list[Message], config: dict[str, Any]
    ) -> Iterator[str]:
        yield from provider.stream(messages, **config)

    # -- async ---------------------------------------------------------------------------------
    async def run_async(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        prompt = self._prompt(artifact)
        if isinstance(body, list):
            body = self.format_batch(body)
            if isinstance(body, list):
                if self.is_streaming():
                    raise StreamingError(f"LLModel '{self.name}' cannot stream a batch")
                return list(await asyncio.gather(*(self._arun_one(i, prompt) for i in body)))
        return await self._arun_one(body, prompt)

    async def _arun_one(self, body: Any, prompt: LLMPromptArtifact | None) -> Any:
        messages, config = self.enrich_prompt(body, prompt)
        return await self.predict_async(
            body, messages=messages, invocation_config=config, llm_prompt_artifact=prompt
        )

    async def predict_async(
        self,
        body: Any,
        messages: list[Message] | None = None,
        invocation_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        provider, messages = self._provider(), self._check_messages(messages)
        if self.streaming:
            return self._astream(provider, messages, invocation_config or {})
        text, usage = await provider.ainvoke(messages, **(invocation_config or {}))
        return self._answer(body, text, usage)

    @staticmethod
    async def _astream(
        provider: ModelProvider, messages: list[Message], config: dict[str, Any]
    ) -> AsyncIterator[str]:
        async for token in provider.astream(messages, **config):
            yield token


__all__ = ["USAGE_FIELDS", "LLModel", "fill_template"]
