"""Answers in process: a `Reply` a request waits on, and the `Response` the mock server returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import describe, status_of

STREAM = object()  # the reply became a stream of chunks
_END = object()


@dataclass
class Response:
    """An HTTP-like answer: status, body (JSON-able or a chunk iterator), content type."""

    status_code: int
    body: Any
    content_type: str = "application/json"

    @classmethod
    def from_error(cls, exc: BaseException) -> Response:
        return cls(status_of(exc), {"error": describe(exc)})


class Reply:
    """Where one request's answer lands: a value, an error, or a stream of chunks.

    In the synchronous fast path nobody waits (fields are read after the run); on the event
    loop `future` wakes the waiting request and `queue` carries stream chunks.
    """

    __slots__ = ("done", "error", "future", "held", "queue", "streaming", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.streaming = False
        self.future: asyncio.Future[Any] | None = loop.create_future() if loop else None
        self.queue: asyncio.Queue[Any] | None = None
        # the event waits in a batch buffer: its answer comes when the batch is flushed
        self.held = False

    def set_result(self, value: Any) -> None:
        if self.done:
            return
        self.done, self.value = True, value
        if self.future is not None and not self.future.done():
            self.future.set_result(value)

    def set_error(self, exc: BaseException) -> None:
        if self.streaming:
            self.end_stream(exc)
            return
        if self.done:
            return
        self.done, self.error = True, exc
        if self.future is not None and not self.future.done():
            self.future.set_result(None)

    def push_chunk(self, value: Any) -> None:
        if self.done and not self.streaming:
            return
        if not self.streaming:
            self.streaming = self.done = True
            self.queue = asyncio.Queue()
            if self.future is not None and not self.future.done():
                self.future.set_result(STREAM)
        assert self.queue is not None
        self.queue.put_nowait(value)

    def end_stream(self, error: BaseException | None = None) -> None:
        if not self.streaming:
            self.streaming = self.done = True
            self.queue = asyncio.Queue()
            if self.future is not None and not self.future.done():
                self.future.set_result(STREAM)
        assert self.queue is not None
        self.queue.put_nowait(_Failure(error) if error is not None else _END)

    async def chunks(self) -> AsyncIterator[Any]:
        """The stream's chunks; an error mid-stream is raised after the chunks before it."""
        assert self.queue is not None
        while True:
            item = await self.queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise RuntimeError(f"failed ({status_of(item.error)}): {describe(item.error)}")
            yield item


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def finish(response: Response, silent: bool, get_body: bool) -> Any:
    """What `server.test` returns: the body, or the Response (`get_body=False`, or an error
    with `silent=True`); an error status otherwise raises, as MLRun's mock server does."""
    if response.status_code >= 300:
        if not silent:
            raise RuntimeError(f"failed ({response.status_code}): {response.body}")
        return response
    return response.body if get_body else response


async def relay(chunks: AsyncIterator[Any], loop: Any) -> AsyncIterator[Any]:
    """An async iterator in the caller's loop over chunks produced on `loop` (a LoopThread)."""
    while True:
        try:
            yield await loop.arun(chunks.__anext__())
        except StopAsyncIteration:
            return


def iterate_blocking(chunks: AsyncIterator[Any], run: Any) -> Iterator[Any]:
    """A plain iterator over an async one whose loop runs elsewhere (`run` blocks per item)."""
    while True:
        try:
            yield run(chunks.__anext__())
        except StopAsyncIteration:
            return
