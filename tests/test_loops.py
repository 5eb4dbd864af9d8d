"""streamgraph's processes run on uvloop unless told not to (streamgraph/loops.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from streamgraph.loops import use_uvloop


@pytest.fixture
def restore_policy() -> Iterator[None]:
    policy = asyncio.get_event_loop_policy()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)


def _new_loop_type() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


def test_new_loops_are_uvloop(restore_policy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMGRAPH_UVLOOP", raising=False)
    assert use_uvloop() is True
    assert issubclass(_new_loop_type(), uvloop.Loop)


def test_uvloop_false_keeps_asyncio(restore_policy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.set_event_loop_policy(None)  # asyncio's default
    monkeypatch.setenv("STREAMGRAPH_UVLOOP", "false")
    assert use_uvloop() is False
    assert not issubclass(_new_loop_type(), uvloop.Loop)
