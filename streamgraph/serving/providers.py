"""LLM providers behind one interface, chosen by the scheme of a model artifact's `model_url`.

- `openai://<model>`: any OpenAI-compatible chat-completions server over HTTP (OpenAI, vLLM,
  Ollama, LiteLLM...). Base URL and key come from the artifact's parameters, else from
  `STREAMGRAPH_LLM_BASE_URL` / `STREAMGRAPH_LLM_API_KEY`.
- `scripted://[echo]`: deterministic answers from rules, for examples and tests; tokens are words.
- `mock://`: MLRun's mock provider, a fixed answer and zero usage.

Every provider answers `invoke(messages, **config) -> (text, usage)`, `await ainvoke(...)`, and
streams tokens with `stream(...)` (sync) and `astream(...)` (async).
"""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlparse

import aiohttp
import orjson

from ..errors import StreamgraphError

Message = dict[str, Any]
Usage = dict[str, int]


class ProviderError(StreamgraphError, RuntimeError):
    """The LLM provider failed or answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LLMConnection:
    base_url: str
    api_key: str | None


def llm_connection_defaults() -> LLMConnection:
    """The OpenAI-compatible server to use when an artifact does not name one."""
    from ..settings import Settings

    settings = Settings()
    return LLMConnection(
        base_url=settings.llm_base_url,
        api_key=key.get_secret_value() if (key := settings.llm_api_key) else None,
    )


class ModelProvider(ABC):
    """One LLM backend. `options` are provider settings; unknown ones are default config."""

    scheme: ClassVar[str] = ""
    supports_streaming: ClassVar[bool] = True

    def __init__(self, url: str, **default_config: Any) -> None:
        self.url = url
        parsed = urlparse(url)
        self.model = (parsed.netloc + parsed.path).strip("/")
        self.default_config = default_config

    @abstractmethod
    def invoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        """The answer text and `{"prompt_tokens", "completion_tokens"}`."""

    async def ainvoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        # Blocking providers must not stall the event loop.
        return await asyncio.to_thread(self.invoke, messages, **config)

    def stream(self, messages: list[Message], **config: Any) -> Iterator[str]:
        """Tokens of the answer; the default yields the whole answer once."""
        yield self.invoke(messages, **config)[0]

    async def astream(self, messages: list[Message], **config: Any) -> AsyncIterator[str]:
        text, _ = await self.ainvoke(messages, **config)
        yield text

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections held for the running event loop."""

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**self.default_config, **config}


def words(text: str) -> int:
    return len(text.split())


class ScriptedProvider(ModelProvider):
    """Answers from rules, deterministically; token counts are word counts.

    `rules` is a list of `{"match": <regex searched in the last user message>, "answer":
    <template>}`; the first match wins. Otherwise `default` answers (`scripted://echo` echoes
    the last user message). Templates may use `{last_user}`, `{summary}` (its first 12 words),
    `{words}`, `{system}`, `{model}`, `{turns}` and the regex's named groups.
    `max_tokens` in the config cuts the answer to that many words.
    """

    scheme = "scripted"
    SUMMARY_WORDS = 12

    def __init__(
        self,
        url: str,
        rules: list[dict[str, str]] | None = None,
        default: str | None = None,
        **default_config: Any,
    ) -> None:
        super().__init__(url, **default_config)
        self.rules = [(re.compile(r["match"], re.IGNORECASE), r["answer"]) for r in rules or []]
        if default is None:
            default = "{last_user}" if self.model == "echo" else "Summary: {summary}"
        self.default = default

    def answer(self, messages: list[Message], **config: Any) -> str:
        last_user = next(
            (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        system = next(
            (str(m.get("content", "")) for m in messages if m.get("role") == "system"), ""
        )
        split = last_user.split()
        summary = " ".join(split[: self.SUMMARY_WORDS])
        if len(split) > self.SUMMARY_WORDS:
            summary += " ..."
        fields: dict[str, Any] = {
            "last_user": last_user,
            "summary": summary,
            "words": len(split),
            "system": system,
            "model": self.model,
            "turns": sum(1 for m in messages if m.get("role") == "user"),
        }
        template = self.default
        for pattern, rule_answer in self.rules:
            found = pattern.search(last_user)
            if found:
                template = rule_answer
                fields.update({k: v for k, v in found.groupdict().items() if v is not None})
                break
        try:
            text = template.format_map(fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ProviderError(
                f"scripted answer template {template!r} cannot be filled: {exc}"
            ) from exc
        limit = self._config(config).get("max_tokens")
        if isinstance(limit, int) and words(text) > limit:
            text = " ".join(text.split()[:limit])
        return text

    def invoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        text = self.answer(messages, **config)
        prompt = sum(words(str(m.get("content", ""))) for m in messages)
        return text, {"prompt_tokens": prompt, "completion_tokens": words(text)}

    async def ainvoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        return self.invoke(messages, **config)  # pure computation: no thread needed

    def stream(self, messages: list[Message], **config: Any) -> Iterator[str]:
        # each token keeps its leading space, so "".join(tokens) is the answer
        yield from re.findall(r"\s*\S+", self.answer(messages, **config))

    async def astream(self, messages: list[Message], **config: Any) -> AsyncIterator[str]:
        for token in self.stream(messages, **config):
            yield token


class MockProvider(ModelProvider):
    """MLRun's `mock://` provider: no inference, a fixed answer."""

    scheme = "mock"
    ANSWER = "You are using a mock model provider, no actual inference is performed."

    def invoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        return self.ANSWER, {"prompt_tokens": 0, "completion_tokens": 0}

    async def ainvoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        return self.invoke(messages, **config)


class OpenAIProvider(ModelProvider):
    """An OpenAI-compatible `/chat/completions` client: urllib for sync calls, aiohttp for async.

    The sync path uses the standard library so that `predict` works in threads and processes
    without an event loop; the async path keeps one aiohttp session per event loop.
    """

    scheme = "openai"

    def __init__(
        self,
        url: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        **default_config: Any,
    ) -> None:
        super().__init__(url, **default_config)
        if not self.model:
            raise ValueError(f"model_url '{url}' must name a model, e.g. openai://gpt-4o-mini")
        defaults = llm_connection_defaults()
        self.base_url = (base_url or defaults.base_url).rstrip("/")
        self.api_key = api_key if api_key is not None else defaults.api_key
        self.timeout = timeout
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, aiohttp.ClientSession
        ] = weakref.WeakKeyDictionary()

    def __getstate__(self) -> dict[str, Any]:
        # sessions belong to one process and loop; a copy in another process opens its own
        state = dict(self.__dict__)
        state["_sessions"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._sessions = weakref.WeakKeyDictionary()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _payload(self, messages: list[Message], config: dict[str, Any], stream: bool) -> bytes:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            **self._config(config),
        }
        if stream:
            payload["stream"] = True
        else:
            payload.pop("stream", None)
        return orjson.dumps(payload)

    @staticmethod
    def _parse(data: Any) -> tuple[str, Usage]:
        try:
            text = data["choices"][0]["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(f"unexpected chat-completions answer: {str(data)[:300]}") from None
        usage = data.get("usage") or {}
        return text, {
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        }

    @staticmethod
    def _sse_token(line: bytes) -> str | None:
        """The token in one `data: {...}` line; "" for other lines; None at `[DONE]`."""
        line = line.strip()
        if not line.startswith(b"data:"):
            return ""
        data = line[5:].strip()
        if data == b"[DONE]":
            return None
        chunk = orjson.loads(data)
        if "error" in chunk:
            raise ProviderError(f"LLM provider stream error: {chunk['error']}")
        choices = chunk.get("choices") or [{}]
        return str((choices[0].get("delta") or {}).get("content") or "")

    def _request(self, messages: list[Message], config: dict[str, Any], stream: bool) -> Any:
        request = urllib.request.Request(
            self.endpoint,
            data=self._payload(messages, config, stream),
            headers=self._headers(),
            method="POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise ProviderError(
                f"LLM provider returned {exc.code}: {detail}", status=exc.code
            ) from None
        except urllib.error.URLError as exc:
            raise ProviderError(
                f"LLM provider at {self.endpoint} unreachable: {exc.reason}"
            ) from exc

    def invoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        with self._request(messages, config, stream=False) as response:
            return self._parse(orjson.loads(response.read()))

    def stream(self, messages: list[Message], **config: Any) -> Iterator[str]:
        with self._request(messages, config, stream=True) as response:
            for line in response:
                token = self._sse_token(line)
                if token is None:
                    return
                if token:
                    yield token

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._sessions[loop] = session
        return session

    async def _apost(self, messages: list[Message], config: dict[str, Any], stream: bool) -> Any:
        try:
            response = await self._session().post(
                self.endpoint, data=self._payload(messages, config, stream), headers=self._headers()
            )
        except aiohttp.ClientConnectionError as exc:
            raise ProviderError(f"LLM provider at {self.endpoint} unreachable: {exc}") from exc
        if response.status >= 400:
            detail = (await response.text())[:500]
            response.release()
            raise ProviderError(
                f"LLM provider returned {response.status}: {detail}", status=response.status
            )
        return response

    async def ainvoke(self, messages: list[Message], **config: Any) -> tuple[str, Usage]:
        async with await self._apost(messages, config, stream=False) as response:
            return self._parse(orjson.loads(await response.read()))

    async def astream(self, messages: list[Message], **config: Any) -> AsyncIterator[str]:
        async with await self._apost(messages, config, stream=True) as response:
            async for line in response.content:
                token = self._sse_token(line)
                if token is None:
                    return
                if token:
                    yield token

    async def aclose(self) -> None:
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()


PROVIDERS: dict[str, type[ModelProvider]] = {
    cls.scheme: cls for cls in (OpenAIProvider, ScriptedProvider, MockProvider)
}


def register_provider(cls: type[ModelProvider]) -> type[ModelProvider]:
    """Make `<cls.scheme>://` URLs use `cls` (usable as a class decorator)."""
    PROVIDERS[cls.scheme] = cls
    return cls


def find_provider(url: str | None) -> type[ModelProvider] | None:
    if not url:
        return None
    return PROVIDERS.get(urlparse(url).scheme)


def get_provider(url: str, **options: Any) -> ModelProvider:
    """A provider for `url`, built with `options` (a model artifact's `parameters`)."""
    cls = find_provider(url)
    if cls is None:
        raise ValueError(
            f"No model provider for model_url '{url}'; known schemes: "
            + ", ".join(f"{s}://" for s in sorted(PROVIDERS))
        )
    return cls(url, **options)


__all__ = [
    "LLMConnection",
    "MockProvider",
    "ModelProvider",
    "OpenAIProvider",
    "ProviderError",
    "ScriptedProvider",
    "find_provider",
    "get_provider",
    "llm_connection_defaults",
    "register_provider",
]
