"""The guide's streaming function: its own client code against a real gateway on Kafka."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from topology_gateway import GatewayThread

from agents.streaming_step import StreamingStep
from streamgraph.testing import serve
from topologies import streaming

pytestmark = pytest.mark.kafka


class RecordingStreamingStep(StreamingStep):
    """The guide's step, noting when it produced each chunk."""

    produced_at: list[float] = []

    async def do(self, event: Any) -> AsyncIterator[str]:
        async for chunk in super().do(event):
            RecordingStreamingStep.produced_at.append(time.monotonic())
            yield chunk


def test_chunks_reach_the_guides_client_as_they_are_produced(kafka_broker: Any) -> None:
    RecordingStreamingStep.produced_at = []
    step = {"StreamingStep": RecordingStreamingStep}
    server = serve(streaming.build_function(), "kafka", kafka_broker.bootstrap_servers, step)
    try:
        with GatewayThread("streaming-fn", server.settings) as gateway:
            url = gateway.url
            # --- the guide's client code (fn.get_url() is the gateway's URL) ---
            resp = requests.post(url, data="hello", stream=True, timeout=60)
            resp.raise_for_status()

            print(f"Transfer-Encoding: {resp.headers.get('Transfer-Encoding')}")
            print()

            received, first_at = [], None
            for chunk in resp.iter_content(decode_unicode=True):
                if chunk:
                    print(chunk, end="", flush=True)
                    first_at = first_at or time.monotonic()
                    received.append(chunk)
    finally:
        server.close()
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert all(isinstance(c, str) for c in received)  # decode_unicode works: a charset is sent
    text = "".join(received)
    assert text == "".join(f"chunk {i}: processed 'hello'\n" for i in range(5))
    produced = RecordingStreamingStep.produced_at
    assert len(produced) == 5
    assert first_at is not None and first_at < produced[-1]  # streamed, not buffered


def test_chunks_and_delay_come_from_class_args_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (StreamingStep(num_chunks=2, delay=0).num_chunks, StreamingStep(delay=0).delay) == (
        2,
        0.0,
    )
    monkeypatch.setenv("STREAMGRAPH_EXAMPLE_STREAM_CHUNKS", "3")
    monkeypatch.setenv("STREAMGRAPH_EXAMPLE_STREAM_DELAY_SECONDS", "0")
    server = streaming.build_function().to_mock_server()
    chunks = list(server.test(body="hi"))
    assert chunks == [f"chunk {i}: processed 'hi'\n" for i in range(3)]
    server.wait_for_completion()
