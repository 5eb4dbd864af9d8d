"""Execution mechanisms: where and how a model's prediction runs.

- `naive`: `predict()` in the event loop thread (trivial computation only).
- `asyncio`: `await predict_async()` in the event loop (asyncio I/O).
- `thread_pool`: `predict()` in a shared `ThreadPoolExecutor` (blocking I/O, GIL-releasing code).
- `process_pool`: `predict()` in a shared `ProcessPoolExecutor`. The model is pickled once and
  loaded once per worker process, cached there under a key; requests carry only the key.
- `dedicated_process`: one long-lived process per model (large models with costly loading),
  fed through a `multiprocessing` Pipe (see `dedicated.py`); started by `load()`, stopped by
  `close()`.
- `shared_executor`: a proxy's call into a shared model's runnable (see `shared.py`).

Processes start with "forkserver" where available, else "spawn" (`ExecutorPools(start_method=)`
overrides it). "fork" copies the parent's threads' locks (thread pool, pipe readers, logging,
Kafka clients) into a child that may then deadlock on them. Measured (trivial model, parent with
numpy and sklearn imported, loaded 2-core box, interleaved runs): a process is ready after
~0.01 s with fork, ~1.2 s with forkserver, ~1.8 s with spawn (Python 3.11 children re-run
`__main__`, so forkserver saves only the interpreter start). That cost is paid once per process
at graph start; a request round trip is ~0.5 ms with any start method.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import pickle
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import StreamingError
from .dedicated import DedicatedProcess, exception_by_name
from .model import Model

if TYPE_CHECKING:
    from .artifacts import Artifact
    from .shared import SharedModelRegistry

NAIVE = "naive"
ASYNCIO = "asyncio"
THREAD_POOL = "thread_pool"
PROCESS_POOL = "process_pool"
DEDICATED_PROCESS = "dedicated_process"
SHARED_EXECUTOR = "shared_executor"

MECHANISMS = (PROCESS_POOL, DEDICATED_PROCESS, THREAD_POOL, ASYNCIO, NAIVE, SHARED_EXECUTOR)
# what add_model() accepts; shared_executor is only set through a shared-model proxy
MODEL_MECHANISMS = MECHANISMS[:-1]
PROCESS_MECHANISMS = (PROCESS_POOL, DEDICATED_PROCESS)


def validate_mechanism(mechanism: Any, allowed: tuple[str, ...] = MODEL_MECHANISMS) -> str:
    value = getattr(mechanism, "value", mechanism)  # accept enum members
    if value not in allowed:
        raise ValueError(
            f"Execution mechanism '{value}' is invalid. It must be one of: {list(allowed)}"
        )
    return str(value)


def default_start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class ExecutorPools:
    """The thread pool and process pool shared by the models that use them; made when needed."""

    def __init__(
        self,
        max_threads: int | None = None,
        max_processes: int | None = None,
        start_method: str | None = None,
    ) -> None:
        self.max_threads = max_threads or 32
        self.max_processes = max_processes or os.cpu_count() or 16
        self.start_method = start_method or default_start_method()
        self._lock = threading.Lock()
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

    @property
    def mp_context(self) -> BaseContext:
        return multiprocessing.get_context(self.start_method)

    def thread_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.max_threads, thread_name_prefix="sg-model")
            return self._threads

    def process_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                self._processes = ProcessPoolExecutor(
                    self.max_processes, mp_context=self.mp_context
                )
            return self._processes

    def discard_broken(self, pool: ProcessPoolExecutor) -> None:
        """Forget a process pool whose worker died, so that the next request gets a new one."""
        with self._lock:
            if self._processes is pool:
                self._processes = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            threads, processes = self._threads, self._processes
            self._threads = self._processes = None
        if threads is not None:
            threads.shutdown(wait=wait)
        if processes is not None:
            processes.shutdown(wait=wait, cancel_futures=True)


_shared_pools: ExecutorPools | None = None
_shared_lock = threading.Lock()


def shared_pools() -> ExecutorPools:
    """The process-wide pools used by models whose step configured none of its own."""
    global _shared_pools
    with _shared_lock:
        if _shared_pools is None:
            _shared_pools = ExecutorPools()
        return _shared_pools


class Runnable(ABC):
    """A model behind an execution mechanism: `load()`, `await run(body)`, `close()`.

    `run()` returns the prediction, or an async iterator of chunks for a streaming model.
    `load()` is `start()` then `wait_ready()`, so a caller can start many slow loads at once.
    """

    mechanism: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    @abstractmethod
    def streaming(self) -> bool: ...

    def start(self) -> None:  # noqa: B027 - optional hook
        """Begin loading (for processes: start them)."""

    def wait_ready(self) -> None:  # noqa: B027 - optional hook
        """Return once loaded; raise what loading raised."""

    def load(self) -> None:
        self.start()
        self.wait_ready()

    @abstractmethod
    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the mechanism's resources (never the shared pools)."""

    async def aclose(self) -> None:
        self.close()


class ModelRunnable(Runnable):
    """A runnable that owns one model object."""

    def __init__(self, model: Model, pools: ExecutorPools | None = None) -> None:
        super().__init__(str(model.name))
        self.model = model
        self.pools = pools or shared_pools()
        model.execution_mechanism = self.mechanism
        model.check_implemented(self.mechanism)
        self._streaming = model.is_streaming()
        if self._streaming and self.mechanism in PROCESS_MECHANISMS:
            raise StreamingError(
                "Streaming is not supported with process-based execution mechanisms. "
                f"Runnable '{self.name}' uses '{self.mechanism}'. "
                "Use 'thread_pool', 'asyncio', or 'naive' for streaming runnables."
            )

    @property
    def streaming(self) -> bool:
        return self._streaming

    def start(self) -> None:
        self.model.init()

    def close(self) -> None:
        self.model.close()

    async def aclose(self) -> None:
        await self.model.aclose()


async def _iterate_here(chunks: Iterator[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk


def _as_chunks(result: Any) -> Any:
    """A sync generator result as an async iterator; anything else unchanged."""
    if isinstance(result, Iterator) and not isinstance(result, str | bytes | dict | list):
        return _iterate_here(result)
    return result


class NaiveRunnable(ModelRunnable):
    mechanism = NAIVE

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        return _as_chunks(self.model.run(body, origin_name, artifact))


class AsyncioRunnable(ModelRunnable):
    mechanism = ASYNCIO

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        return _as_chunks(await self.model.run_async(body, origin_name, artifact))


_DONE = object()


class ThreadPoolRunnable(ModelRunnable):
    mechanism = THREAD_POOL

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        loop = asyncio.get_running_loop()
        pool = self.pools.thread_pool()
        call = functools.partial(self.model.run, body, origin_name, artifact)
        result = await loop.run_in_executor(pool, call)
        if isinstance(result, Iterator) and not isinstance(result, str | bytes | dict | list):
            return self._chunks_in_pool(result, pool)
        return result

    @staticmethod
    async def _chunks_in_pool(
        chunks: Iterator[Any], pool: ThreadPoolExecutor
    ) -> AsyncIterator[Any]:
        # the generator's body runs in pool threads too, one step per chunk
        loop = asyncio.get_running_loop()
        while (chunk := await loop.run_in_executor(pool, next, chunks, _DONE)) is not _DONE:
            yield chunk


def _pickled(model: Model, mechanism: str) -> bytes:
    try:
        return pickle.dumps(model)
    except Exception as exc:
        raise TypeError(
            f"Model '{model.name}' cannot be sent to another process ({mechanism}): {exc}. "
            "Define the model class at module level and keep unpicklable state out of "
            "__init__ (open it in load())."
        ) from exc


# -- process pool ------------------------------------------------------------------------------
# In each worker process: models loaded there, by key.
_WORKER_MODELS: dict[str, Model] = {}


class _NotLoadedError(Exception):
    """The worker has not loaded this key yet; the caller resends with the pickled model."""


def _pool_load(key: str, payload: bytes) -> int:
    if key not in _WORKER_MODELS:
        model = pickle.loads(payload)
        model.init()
        _WORKER_MODELS[key] = model
    return os.getpid()


def _pool_run(
    key: str, payload: bytes | None, body: Any, origin_name: str | None, artifact: Any
) -> Any:
    if key not in _WORKER_MODELS:
        if payload is None:
            raise _NotLoadedError(key)
        _pool_load(key, payload)
    return _WORKER_MODELS[key].run(body, origin_name, artifact)


class ProcessPoolRunnable(ModelRunnable):
    mechanism = PROCESS_POOL

    def __init__(self, model: Model, pools: ExecutorPools | None = None) -> None:
        super().__init__(model, pools)
        self.key = f"{self.name}-{uuid.uuid4().hex}"
        self._payload = _pickled(model, self.mechanism)
        self._ready: Future[int] | None = None

    def start(self) -> None:
        # load in one worker now, so that a model which cannot load fails at graph start
        pool = self.pools.process_pool()
        self._ready = pool.submit(_pool_load, self.key, self._payload)

    def wait_ready(self) -> None:
        if self._ready is not None:
            self._ready.result()

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        loop = asyncio.get_running_loop()
        pool = self.pools.process_pool()
        try:
            try:
                # most requests carry only the key: the model is already loaded in the worker
                return await loop.run_in_executor(
                    pool, _pool_run, self.key, None, body, origin_name, artifact
                )
            except _NotLoadedError:
                return await loop.run_in_executor(
                    pool, _pool_run, self.key, self._payload, body, origin_name, artifact
                )
        except BrokenProcessPool:
            # a worker died (killed, out of memory): fail this request, recover for the next
            self.pools.discard_broken(pool)
            raise

    def close(self) -> None:
        """Workers keep their copy until the pool shuts down; nothing to stop per model."""


# -- dedicated process (see dedicated.py) ------------------------------------------------------
class DedicatedProcessRunnable(ModelRunnable):
    """One process for this model. Requests are answered in order; many may be in flight."""

    mechanism = DEDICATED_PROCESS

    def __init__(self, model: Model, pools: ExecutorPools | None = None) -> None:
        super().__init__(model, pools)
        self._payload = _pickled(model, self.mechanism)
        self._process = DedicatedProcess(self.name)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        self._process.start(self.pools.mp_context, self._payload)

    def wait_ready(self) -> None:
        self._process.wait_ready()

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        return await self._process.call(body, origin_name, artifact)

    def close(self) -> None:
        self._process.close()


class SharedExecutorRunnable(Runnable):
    """A proxy: calls the shared model's runnable with its own endpoint name and artifact."""

    mechanism = SHARED_EXECUTOR

    def __init__(
        self,
        name: str,
        registry: SharedModelRegistry,
        shared_model_name: str,
        artifact: Artifact | None = None,
    ) -> None:
        super().__init__(name)
        self.registry = registry
        self.shared_model_name = shared_model_name
        self.artifact = artifact

    @property
    def target(self) -> Runnable:
        return self.registry.get(self.shared_model_name)

    @property
    def streaming(self) -> bool:
        return self.target.streaming

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        return await self.target.run(body, origin_name or self.name, artifact or self.artifact)


RUNNABLES: dict[str, type[ModelRunnable]] = {
    cls.mechanism: cls
    for cls in (
        NaiveRunnable,
        AsyncioRunnable,
        ThreadPoolRunnable,
        ProcessPoolRunnable,
        DedicatedProcessRunnable,
    )
}


def make_runnable(
    model: Model, mechanism: str, pools: ExecutorPools | None = None
) -> ModelRunnable:
    """The runnable for `model` under `mechanism` (refusing streaming on processes)."""
    return RUNNABLES[validate_mechanism(mechanism)](model, pools)


__all__ = [
    "MECHANISMS",
    "MODEL_MECHANISMS",
    "AsyncioRunnable",
    "DedicatedProcessRunnable",
    "ExecutorPools",
    "ModelRunnable",
    "NaiveRunnable",
    "ProcessPoolRunnable",
    "Runnable",
    "SharedExecutorRunnable",
    "ThreadPoolRunnable",
    "default_start_method",
    "exception_by_name",
    "make_runnable",
    "shared_pools",
    "validate_mechanism",
]
