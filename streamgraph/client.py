"""A blocking HTTP client for a deployed function: what `fn.invoke()` and `fn.stream()` use.

aiohttp runs on a private loop thread, because only it keeps HTTP chunk boundaries: the gateway
writes each chunk of a streaming answer as one HTTP chunk, so `stream()` yields them one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson

from .engines.loop_thread import LoopThread
from .errors import InvocationError


class HttpClient:
    """Requests to one base URL, from synchronous code."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._loop: LoopThread | None = None
        self._session: aiohttp.ClientSession | None = None

    def invoke(
        self, path: str, body: Any, method: str | None, headers: dict[str, str] | None
    ) -> Any:
        """The parsed answer (JSON, else text, else bytes); `InvocationError` on an error status."""
        return self._run().run(self._invoke(path, body, method, headers))

    def stream(
        self, path: str, body: Any, method: str | None, headers: dict[str, str] | None
    ) -> Iterator[Any]:
        """Each HTTP chunk of the answer as it arrives (a plain answer is one chunk)."""
        loop = self._run()
        response = loop.run(self._send(path, body, method, headers))
        try:
            while True:
                chunk = loop.run(_next_chunk(response))
                if chunk is None:
                    return
                yield _text(chunk)
        finally:
            response.release()

    def close(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            self._loop.run(self._session.close())
            self._session = None
        self._loop.stop()
        self._loop = None

    # -- on the loop thread ---------------------------------------------------------------------
    def _run(self) -> LoopThread:
        if self._loop is None:
            self._loop = LoopThread("streamgraph-client")
        return self._loop

    async def _send(
        self, path: str, body: Any, method: str | None, headers: dict[str, str] | None
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_read=self._timeout)
            )
        data, content_type = _encode(body)
        sent = dict(headers or {})
        if content_type and not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = content_type
        method = (method or ("POST" if body is not None else "GET")).upper()
        url = f"{self.url}/{path.lstrip('/')}"
        response = await self._session.request(method, url, data=data, headers=sent)
        if response.status >= 300:
            raw = await response.read()
            answer = _decode(raw, response.content_type)
            response.release()
            error = answer.get("error", answer) if isinstance(answer, dict) else answer
            raise InvocationError(
                f"{method} {path} failed ({response.status}): {error}", response.status, answer
            )
        return response

    async def _invoke(
        self, path: str, body: Any, method: str | None, headers: dict[str, str] | None
    ) -> Any:
        response = await self._send(path, body, method, headers)
        try:
            return _decode(await response.read(), response.content_type)
        finally:
            response.release()


async def _next_chunk(response: aiohttp.ClientResponse) -> bytes | None:
    """One whole HTTP chunk (or the rest of a plain body); None at the end."""
    parts: list[bytes] = []
    while True:
        data, end_of_chunk = await response.content.readchunk()
        if data:
            parts.append(data)
        if end_of_chunk and parts:  # (the empty chunk that ends a chunked body is no chunk)
            return b"".join(parts)
        if not data:  # end of the body
            return b"".join(parts) if parts else None


def _encode(body: Any) -> tuple[bytes | None, str | None]:
    if body is None:
        return None, None
    if isinstance(body, bytes | bytearray):
        return bytes(body), None
    if isinstance(body, str):
        return body.encode(), "text/plain"
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == "application/json" or not content_type or content_type.endswith("+json"):
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            pass
    return _text(raw)


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


__all__ = ["HttpClient"]
