"""The guide's `StreamingStep`: yields chunks with a delay, as an LLM yields tokens.

The guide's class, with the number of chunks and the delay settable as class args or from
`STREAMGRAPH_EXAMPLE_STREAM_CHUNKS` / `STREAMGRAPH_EXAMPLE_STREAM_DELAY_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents.config import ExampleSettings


class StreamingStep:
    """A step that yields chunks with a delay to simulate work."""

    def __init__(
        self,
        context: Any = None,
        name: str | None = None,
        num_chunks: int | None = None,
        delay: float | None = None,
    ) -> None:
        settings = ExampleSettings()
        self.context = context
        self.name = name
        self.num_chunks = settings.stream_chunks if num_chunks is None else int(num_chunks)
        self.delay = settings.stream_delay_seconds if delay is None else float(delay)

    async def do(self, event: Any) -> AsyncIterator[str]:
        if isinstance(event, bytes):
            event = event.decode("utf-8")
        for i in range(self.num_chunks):
            await asyncio.sleep(self.delay)
            yield f"chunk {i}: processed '{event}'\n"


__all__ = ["StreamingStep"]
