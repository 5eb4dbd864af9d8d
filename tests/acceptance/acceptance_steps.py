"""Step classes and handlers the acceptance suite's graphs name (MLRun's `demo_states.py`).

Ported from mlrun `tests/serving/demo_states.py` (and the helpers defined inside MLRun's
test modules and storey's `tests/test_flow.py`). What MLRun kept on `server.context`
(`context.visits`, `context.mylist`) or gathered with `storey.Reduce` lives here in module-level
containers instead, so the tests don't depend on in-process-only server objects.
Tests clear them with `reset()`.
"""

from __future__ import annotations

import asyncio
from copy import copy
from typing import Any

import streamgraph as sg
from streamgraph.steps import Choice, Map

# what MLRun kept on server.context / gathered with storey.Reduce
visits: dict[str, int] = {}
gathered: list[Any] = []
reduced: list[Any] = []


def reset() -> None:
    visits.clear()
    gathered.clear()
    reduced.clear()


# -- tests/serving/demo_states.py ------------------------------------------------------------
class BaseClass:
    def __init__(self, context, name=None):
        self.context = context
        self.name = name


class Echo(BaseClass):
    def __init__(self, name=None):
        self.name = name

    def do(self, x):
        return x


class RespName(BaseClass):
    def __init__(self, **kwargs):
        self.name = kwargs.get("name")

    def do(self, x):
        return [x, self.name]


class EchoError(BaseClass):
    def do(self, x):
        x.body = {"body": x.body, "origin_state": x.origin_state, "error": x.error}
        return x


class Chain(BaseClass):
    def do(self, x):
        x = copy(x)
        x.append(self.name)
        return x


class ChainWithContext(BaseClass):
    """MLRun counts visits in `self.context.visits`; here in the module-level `visits`."""

    def do(self, x):
        visits[self.name] = visits.get(self.name, 0) + 1
        x = copy(x)
        x.append(self.name)
        return x


class Message(BaseClass):
    def __init__(self, msg="", context=None, name=None):
        self.msg = msg

    def do(self, x):
        return x


class Raiser:
    def __init__(self, msg="", context=None, name=None):
        self.context = context
        self.name = name
        self.msg = msg

    def do(self, x):
        raise ValueError(f" this is an error, {x}")


class NotAStep:
    """A class with no `do` (nor `do_event`): not a step."""

    def __init__(self, context=None, name=None):
        self.context = context
        self.name = name


class Route:
    def do(self, event):
        return event

    def select_outlets(self, event):
        if event.get("go_cyclic"):
            return ["count"]
        return ["end"]


class Counter:
    def do(self, event: dict):
        event["counter"] = event.get("counter", 0) + 1
        event["go_cyclic"] = True
        if event["counter"] > 4:
            event["go_cyclic"] = False
        return event


class Tool(BaseClass):
    def do(self, event: dict) -> dict:
        event[self.name] = event.get(self.name, 0) + 1
        return event


# -- tests/serving/test_flow.py helpers ------------------------------------------------------
def myfunc1(x, context=None):
    assert isinstance(context, sg.GraphContext), "didnt get a valid context"
    return x * 2


def myfunc2(x):
    return x * 2


class Mul(Map):
    """MLRun's `Mul(storey.MapClass)`; our Map plays storey's MapClass."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def do(self, event):
        return event * 2


def return_type(event):
    return event.__class__.__name__


# -- tests/serving/test_merger.py helpers ----------------------------------------------------
async def double(event):
    return event * 2


class Adder:
    def __init__(self, add=2):
        self.add = add

    def do(self, event):
        return event + self.add


class AsyncAdder:
    """MLRun's `AsyncAdder(storey.flow._ConcurrentJobExecution)`: an async step that waits."""

    def __init__(self, add=2, wait=1, **kwargs):
        self.add = add
        self.wait = wait

    async def do(self, event):
        await asyncio.sleep(self.wait)
        return event + self.add


class Gather:
    """MLRun's Gather appends to `context.mylist`; here to the module-level `gathered`."""

    def __init__(self, context):
        self.context = context

    def do(self, event):
        gathered.append(event)
        return event


# -- tests/serving/test_async_flow.py::test_batch (storey.Reduce replaced) -------------------
def record_batch(event):
    """Stands in for `storey.Reduce(initial_value=[], fn=append_and_return)`."""
    reduced.append(event)
    return event


# -- storey tests/test_flow.py (Choice) -------------------------------------------------------
def reduce_sum(event):
    """Stands in for `storey.Reduce(0, lambda acc, x: acc + x)`: keeps every value it sees."""
    reduced.append(event)
    return event


class MyChoice(Choice):
    def select_outlets(self, event):
        outlets = ["all_events"]
        if event > 5:
            outlets.append("more_than_five")
        else:
            outlets.append("up_to_five")
        return outlets


class DuplicateChoice(Choice):
    def select_outlets(self, event):
        outlets = ["all_events", "all_events"]
        return outlets


class NonexistentChoice(Choice):
    def select_outlets(self, event):
        outlets = ["wrong"]
        return outlets


# -- tests/serving/test_streaming.py ---------------------------------------------------------
class StreamingStep:
    """A step that yields streaming chunks."""

    def __init__(self, context=None, name=None, num_chunks=3):
        self.context = context
        self.name = name
        self.num_chunks = num_chunks

    def do(self, x):
        for i in range(self.num_chunks):
            yield f"{x}_chunk_{i}"


class NonStreamingStep:
    """A regular non-streaming step."""

    def __init__(self, context=None, name=None):
        self.context = context
        self.name = name

    def do(self, x):
        return f"{x}_processed"


class DoubleStreamer:
    """A streaming step for testing streaming-on-streaming errors."""

    def __init__(self, context=None, name=None):
        self.context = context
        self.name = name

    def do(self, x):
        yield f"{x}_a"
        yield f"{x}_b"


class ReStreamer:
    """A streaming step that re-streams collected chunks."""

    def __init__(self, context=None, name=None):
        self.context = context
        self.name = name

    def do(self, x):
        for item in x:
            yield f"re_{item}"


class ErrorStreamingStep:
    """A streaming step that raises an error mid-stream."""

    def __init__(self, context=None, name=None):
        self.context = context
        self.name = name

    def do(self, x):
        yield f"{x}_chunk_0"
        raise ValueError("Generator error mid-stream")


class FailingIntermediateStep:
    """A non-streaming step that fails on a given chunk."""

    def __init__(self, context=None, name=None, fail_on_chunk=1):
        self.context = context
        self.name = name
        self.fail_on_chunk = fail_on_chunk
        self._count = 0

    def do(self, x):
        if self._count == self.fail_on_chunk:
            raise RuntimeError(f"Failed on chunk {self._count}")
        self._count += 1
        return f"{x}_processed"


# -- tests/system/runtimes/assets/streaming_function.py --------------------------------------
class StreamingChoice(Choice):
    """Routes events based on URL path."""

    def select_outlets(self, event):
        path = getattr(event, "path", "/step")
        route = path.lstrip("/") or "step"
        return [route]


class AsyncStreamingStep:
    """The system test's `StreamingStep`: an async generator (its 1 s sleep cut to 10 ms)."""

    def __init__(self, context=None, name=None, num_chunks=3):
        self.context = context
        self.name = name
        self.num_chunks = num_chunks

    async def do(self, x):
        if isinstance(x, bytes):
            x = x.decode("utf-8")
        for i in range(self.num_chunks):
            await asyncio.sleep(0.01)
            yield f"{x}_chunk_{i}"


class PlainEcho:
    """The system test asset's `Echo` (no constructor arguments)."""

    def do(self, x):
        return x
