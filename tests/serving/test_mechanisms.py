"""Each execution mechanism really runs where its name says.

Models used in other processes live at module level, so the child can import them.
Loads are counted in a file (one line per load, with the pid), which every process can append to.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from streamgraph.errors import StreamingError
from streamgraph.serving.artifacts import ModelArtifact
from streamgraph.serving.mechanisms import (
    AsyncioRunnable,
    DedicatedProcessRunnable,
    ExecutorPools,
    NaiveRunnable,
    ProcessPoolRunnable,
    ThreadPoolRunnable,
    make_runnable,
    validate_mechanism,
)
from streamgraph.serving.model import Model, ModelRunnerError


class WhereAmI(Model):
    """Answers with where it ran; logs each load to `load_log` when given."""

    def load(self) -> None:
        log = self.get_param("load_log")
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

    def predict(self, body: Any, **kw: Any) -> Any:
        if isinstance(body, dict) and body.get("crash"):
            os._exit(3)
        if isinstance(body, dict) and "fail" in body:
            raise ValueError(f"bad input {body['fail']}")
        return {
            "echo": body,
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            "thread_id": threading.get_ident(),
        }


class CustomError(Exception):
    pass


class UnpicklableError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()  # cannot be pickled


class Raiser(Model):
    def predict(self, body: Any, **kw: Any) -> Any:
        if body == "custom":
            raise CustomError("custom failure")
        if body == "unpicklable":
            raise UnpicklableError("carries a lock")
        if body == "result":
            return threading.Lock()  # a result that cannot go back through the pipe
        return "fine"


class Sleeper(Model):
    """Sleeps `body["sleep"]` seconds (busy, not reading its pipe); else answers its body's size."""

    def predict(self, body: Any, **kw: Any) -> Any:
        time.sleep(body.get("sleep", 0))
        return len(body.get("blob", b""))


class Arrivals(Model):
    """Answers with how many requests it read before this one."""

    def load(self) -> None:
        self.seen = 0

    def predict(self, body: Any, **kw: Any) -> Any:
        self.seen += 1
        return self.seen - 1


class FailsToLoad(Model):
    def load(self) -> None:
        raise FileNotFoundError("weights.bin is missing")

    def predict(self, body: Any, **kw: Any) -> Any:
        return body


class Tokens(Model):
    def predict(self, body: Any, **kw: Any) -> Iterator[Any]:
        for word in body.split():
            yield (word, threading.current_thread().name)


class AsyncTokens(Model):
    async def predict_async(self, body: Any, **kw: Any) -> AsyncIterator[str]:
        for word in body.split():
            yield word


class Gate(Model):
    """An asyncio model that waits on an event the test sets."""

    async def predict_async(self, body: Any, **kw: Any) -> Any:
        body["started"].set()
        await body["gate"].wait()
        return {"thread_id": threading.get_ident()}


class IrisModel(Model):
    """A real scikit-learn model, read from the artifact's model file."""

    def load(self) -> None:
        path = self.get_local_model_path()
        assert path is not None
        self.clf = joblib.load(path)

    def predict(self, body: Any, **kw: Any) -> Any:
        return {"outputs": self.clf.predict(np.asarray(body["inputs"])).tolist()}


@pytest.fixture(scope="module")
def iris_artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelArtifact, Any]:
    folder = tmp_path_factory.mktemp("iris")
    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(clf, folder / "iris.joblib")
    artifact = ModelArtifact("iris", model_file="iris.joblib")
    artifact.save(folder)
    return artifact, x


@pytest.fixture
def pools() -> Iterator[ExecutorPools]:
    pools = ExecutorPools(max_threads=4, max_processes=2)
    yield pools
    pools.shutdown()


def loads_in(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def test_invalid_mechanism_is_refused_with_the_list() -> None:
    with pytest.raises(ValueError) as info:
        validate_mechanism("gpu_magic")
    assert str(info.value) == (
        "Execution mechanism 'gpu_magic' is invalid. It must be one of: "
        "['process_pool', 'dedicated_process', 'thread_pool', 'asyncio', 'naive']"
    )
    with pytest.raises(ValueError, match="'shared_executor' is invalid"):
        make_runnable(WhereAmI(name="m"), "shared_executor")


async def test_naive_runs_in_the_callers_thread(pools: ExecutorPools) -> None:
    runnable = NaiveRunnable(WhereAmI(name="m"), pools)
    runnable.load()
    out = await runnable.run({"x": 1})
    assert out["thread_id"] == threading.get_ident()
    assert out["pid"] == os.getpid()


async def test_asyncio_awaits_predict_async_in_the_loop(pools: ExecutorPools) -> None:
    runnable = AsyncioRunnable(Gate(name="g"), pools)
    runnable.load()
    gate, started = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(runnable.run({"gate": gate, "started": started}))
    await asyncio.wait_for(started.wait(), timeout=10)
    assert not task.done()  # the model waits without holding the loop: we run meanwhile
    gate.set()
    out = await asyncio.wait_for(task, timeout=10)
    assert out["thread_id"] == threading.get_ident()


async def test_thread_pool_runs_in_a_pool_thread(pools: ExecutorPools) -> None:
    runnable = ThreadPoolRunnable(WhereAmI(name="m"), pools)
    runnable.load()
    out = await runnable.run({"x": 1})
    assert out["thread_id"] != threading.get_ident()
    assert out["thread"].startswith("sg-model")
    assert out["pid"] == os.getpid()


async def test_process_pool_runs_in_workers_and_loads_once_per_worker(
    pools: ExecutorPools, tmp_path: Path
) -> None:
    log = tmp_path / "loads.log"
    runnable = ProcessPoolRunnable(WhereAmI(name="m", load_log=str(log)), pools)
    runnable.load()
    outs = await asyncio.gather(*(runnable.run({"i": i}) for i in range(40)))
    assert [o["echo"] for o in outs] == [{"i": i} for i in range(40)]
    pids = {o["pid"] for o in outs}
    assert os.getpid() not in pids
    loads = loads_in(log)
    assert len(loads) == len(set(loads)), "a worker loaded the model twice"
    assert pids <= set(loads)


async def test_process_pool_exceptions_keep_their_class(pools: ExecutorPools) -> None:
    runnable = ProcessPoolRunnable(WhereAmI(name="m"), pools)
    runnable.load()
    with pytest.raises(ValueError, match="bad input 4"):
        await runnable.run({"fail": 4})


async def test_dedicated_process_survives_200_requests_in_one_process(
    pools: ExecutorPools, tmp_path: Path
) -> None:
    log = tmp_path / "loads.log"
    runnable = DedicatedProcessRunnable(WhereAmI(name="m", load_log=str(log)), pools)
    runnable.load()
    try:
        pids = set()
        for i in range(100):
            out = await runnable.run({"i": i})
            assert out["echo"] == {"i": i}
            pids.add(out["pid"])
        # 100 more in flight at once: replies must match their requests
        outs = await asyncio.gather(*(runnable.run({"i": i}) for i in range(100, 200)))
        assert [o["echo"] for o in outs] == [{"i": i} for i in range(100, 200)]
        pids |= {o["pid"] for o in outs}
        assert pids == {runnable.pid}
        assert runnable.pid != os.getpid()
        assert loads_in(log) == [runnable.pid]
    finally:
        runnable.close()
    assert runnable.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(runnable.pid, 0)  # stopped (and reaped) by close()


def test_dedicated_process_large_bodies_in_flight_do_not_deadlock() -> None:
    """Requests and replies bigger than the pipe's buffer, many at once, both ways.

    Runs on its own thread and loop: a deadlock blocks that loop, and the join below fails.
    """
    results: list[bool] = []

    async def scenario() -> None:
        pools = ExecutorPools(max_processes=1)
        runnable = DedicatedProcessRunnable(WhereAmI(name="big"), pools)
        runnable.load()
        try:
            blob = "x" * 1_000_000
            outs = await asyncio.gather(*(runnable.run({"i": i, "blob": blob}) for i in range(30)))
            results.append([o["echo"]["i"] for o in outs] == list(range(30)))
        finally:
            runnable.close()
            pools.shutdown()

    thread = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "requests and replies deadlocked on the pipe"
    assert results == [True]


async def test_sending_a_large_request_does_not_block_the_loop(pools: ExecutorPools) -> None:
    """A request far bigger than the pipe's buffer, to a child busy with a previous one.

    The send waits ~2 s for the child to read; a ticker on the same loop must keep ticking.
    """
    runnable = DedicatedProcessRunnable(Sleeper(name="slow"), pools)
    runnable.load()
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def scenario() -> float:
        blob = b"x" * (32 * 1024 * 1024)  # 500 times the pipe's buffer
        busy = asyncio.ensure_future(runnable.run({"sleep": 2.0}))
        await asyncio.sleep(0.2)  # the child has taken the first request and sleeps
        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.05)  # ticking before the send begins
        start = time.perf_counter()
        try:
            assert await runnable.run({"blob": blob}) == len(blob)
        finally:
            ticker.cancel()
        elapsed = time.perf_counter() - start
        assert await busy == 0
        return elapsed

    try:
        elapsed = await asyncio.wait_for(scenario(), timeout=60)
    finally:
        runnable.close()
    assert elapsed > 1.0, "the child read the request at once: nothing was tested"
    assert max(gaps) < 0.5, f"the loop stalled {max(gaps):.2f} s during a {elapsed:.2f} s send"
    assert len(gaps) > 100  # it ticked all along


async def test_the_child_reads_requests_in_call_order(pools: ExecutorPools) -> None:
    """Small requests are written at once, large ones partly queued: the order must hold."""
    runnable = DedicatedProcessRunnable(Arrivals(name="order"), pools)
    runnable.load()
    big = b"x" * 3_000_000
    try:
        bodies = [{"i": i, "blob": big if i % 3 == 0 else b""} for i in range(60)]
        outs = await asyncio.wait_for(
            asyncio.gather(*(runnable.run(body) for body in bodies)), timeout=60
        )
        assert outs == list(range(60))
    finally:
        runnable.close()


async def test_dedicated_process_exceptions_come_back_as_the_same_class(
    pools: ExecutorPools,
) -> None:
    runnable = DedicatedProcessRunnable(Raiser(name="r"), pools)
    runnable.load()
    try:
        with pytest.raises(CustomError, match="custom failure") as info:
            await runnable.run("custom")
        assert any("dedicated process" in note for note in info.value.__notes__)
        with pytest.raises(UnpicklableError, match="carries a lock"):
            await runnable.run("unpicklable")
        with pytest.raises(TypeError, match="pickle"):
            await runnable.run("result")
        assert await runnable.run("ok") == "fine"  # still serving after every failure
    finally:
        runnable.close()


async def test_dedicated_process_load_failure_is_raised_by_load(pools: ExecutorPools) -> None:
    runnable = DedicatedProcessRunnable(FailsToLoad(name="f"), pools)
    with pytest.raises(FileNotFoundError, match=r"weights\.bin is missing"):
        runnable.load()


async def test_a_crashed_dedicated_process_fails_requests_clearly(pools: ExecutorPools) -> None:
    runnable = DedicatedProcessRunnable(WhereAmI(name="m"), pools)
    runnable.load()
    try:
        with pytest.raises(RuntimeError, match=r"model 'm' has stopped \(exit code 3\)"):
            await runnable.run({"crash": True})
        with pytest.raises(RuntimeError, match="has stopped"):
            await runnable.run({"x": 1})
    finally:
        runnable.close()


async def test_iris_predicts_the_same_in_every_mechanism(
    pools: ExecutorPools, iris_artifact: tuple[ModelArtifact, Any]
) -> None:
    artifact, x = iris_artifact
    body = {"inputs": x[::10].tolist()}
    local = IrisModel(name="iris", artifact_uri=artifact)
    local.init()
    expected = local.predict(body)
    assert len(set(expected["outputs"])) == 3  # a real classifier, all three classes seen
    for mechanism in ("naive", "thread_pool", "process_pool", "dedicated_process"):
        runnable = make_runnable(IrisModel(name="iris", artifact_uri=artifact), mechanism, pools)
        runnable.load()
        try:
            assert await runnable.run(body) == expected, mechanism
        finally:
            runnable.close()


@pytest.mark.parametrize("mechanism", ["process_pool", "dedicated_process"])
def test_streaming_models_are_refused_on_processes(mechanism: str) -> None:
    with pytest.raises(StreamingError) as info:
        make_runnable(Tokens(name="tok"), mechanism)
    assert str(info.value) == (
        "Streaming is not supported with process-based execution mechanisms. "
        f"Runnable 'tok' uses '{mechanism}'. "
        "Use 'thread_pool', 'asyncio', or 'naive' for streaming runnables."
    )


async def test_streaming_on_naive_asyncio_and_threads(pools: ExecutorPools) -> None:
    naive = make_runnable(Tokens(name="t"), "naive", pools)
    chunks = [c async for c in await naive.run("a b c")]
    assert [w for w, _ in chunks] == ["a", "b", "c"]
    assert {t for _, t in chunks} == {threading.current_thread().name}

    threaded = make_runnable(Tokens(name="t"), "thread_pool", pools)
    chunks = [c async for c in await threaded.run("a b c")]
    assert [w for w, _ in chunks] == ["a", "b", "c"]
    assert all(t.startswith("sg-model") for _, t in chunks)

    asyncio_tokens = make_runnable(AsyncTokens(name="t"), "asyncio", pools)
    assert [c async for c in await asyncio_tokens.run("x y")] == ["x", "y"]


def test_unpicklable_models_are_refused_before_starting(pools: ExecutorPools) -> None:
    with pytest.raises(TypeError, match="cannot be sent to another process"):
        make_runnable(WhereAmI(name="m", hook=lambda: 1), "dedicated_process", pools)


def test_models_lacking_predict_are_refused_for_their_mechanism() -> None:
    with pytest.raises(ModelRunnerError, match="predict_async"):
        make_runnable(Model(name="bare"), "asyncio")
