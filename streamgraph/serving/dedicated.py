"""A dedicated process: one long-lived child that loads a model and answers its requests.

The parent talks to the child over a duplex `multiprocessing` Pipe (a socketpair on POSIX) and
never blocks its event loop on it. A request is pickled in the caller (a snapshot of the body;
pickling errors are raised there), framed as `Connection.send_bytes()` frames it, and written
at once as far as the pipe takes it without waiting; what does not fit (a large request, a
busy child) is queued for a sender thread, and later requests queue behind it, so the child
reads them in the order `call()` was entered. Replies are read by a reader thread and matched
to requests by id; the child's exceptions are raised in the caller with their class where
possible. Writing in the caller saves a thread hand-off per request (~0.1 ms on a loaded box).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import os
import pickle
import signal
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.reduction import ForkingPickler
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Model

ExcPack = tuple[
    str, Any, str
]  # ("pickled", bytes, traceback) or ("described", (mod, qualname, msg), tb)


def _pack_exception(exc: BaseException) -> ExcPack:
    tb = "".join(traceback.format_exception(exc))
    try:
        return ("pickled", pickle.dumps(exc), tb)
    except Exception:
        return ("described", (type(exc).__module__, type(exc).__qualname__, str(exc)), tb)


def _unpack_exception(pack: ExcPack, where: str) -> BaseException:
    how, data, tb = pack
    exc: BaseException | None = None
    if how == "pickled":
        try:
            exc = pickle.loads(data)
        except Exception:
            exc = None
    if exc is None:
        module, qualname, message = data if how == "described" else ("builtins", "Exception", "")
        exc = exception_by_name(module, qualname, message)
    exc.add_note(f"Raised in {where}:\n{tb}")
    return exc


def exception_by_name(module: str, qualname: str, message: str) -> BaseException:
    """An exception of the class `module.qualname` raised elsewhere (else a RuntimeError)."""
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        exc = cls(message)
    except Exception:
        return RuntimeError(f"{qualname}: {message}")
    return exc if isinstance(exc, BaseException) else RuntimeError(f"{qualname}: {message}")


def _dedicated_main(conn: Connection, payload: bytes) -> None:
    """The child: load the model, then answer `(id, body, origin, artifact)` until `None`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        model: Model = pickle.loads(payload)
        model.init()
    except BaseException as exc:
        conn.send(("error", _pack_exception(exc)))
        conn.close()
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break  # the parent is gone
        if request is None:
            break
        request_id, body, origin_name, artifact = request
        try:
            conn.send((request_id, True, model.run(body, origin_name, artifact)))
        except Exception as exc:
            # also reached when the result cannot be pickled; send() wrote nothing then
            conn.send((request_id, False, _pack_exception(exc)))
    try:
        model.close()
    finally:
        conn.close()


_STOP = object()  # the sender's last item: tell the child to stop
Pieces = list[memoryview]


def _framed(data: memoryview) -> Pieces:
    """`data` framed as `Connection.send_bytes()` frames it, for the child's `recv()`."""
    n = data.nbytes
    header = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    return [memoryview(header), data]


def _unsent(pieces: Pieces, sent: int) -> Pieces:
    rest: Pieces = []
    for piece in pieces:
        if sent >= piece.nbytes:
            sent -= piece.nbytes
        else:
            rest.append(piece[sent:])
            sent = 0
    return rest


class DedicatedProcess:
    """The child process of model `name`: `start()`, `wait_ready()`, `await call()`, `close()`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._conn: Connection | None = None
        self._sock: socket.socket | None = None  # the parent's end again, for sendmsg()
        self._process: Any = None
        self._reader: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        self._outbox: SimpleQueue[Any] = SimpleQueue()  # (id, unsent pieces) or _STOP
        # Held only around non-blocking writes and queueing, never while a write waits
        self._write_lock = threading.Lock()
        self._backlog = 0  # items in or taken from _outbox and not written yet
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._lock = threading.Lock()  # guards _pending and _dead
        self._ids = itertools.count()
        self._dead: str | None = None
        self.pid: int | None = None

    @property
    def where(self) -> str:
        return f"the dedicated process (pid {self.pid}) of model '{self.name}'"

    def start(self, ctx: BaseContext, payload: bytes) -> None:
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(  # type: ignore[attr-defined]
            target=_dedicated_main,
            args=(child, payload),
            name=f"sg-model-{self.name}",
            daemon=True,  # never outlive the server, even if close() is skipped
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process

    def wait_ready(self) -> None:
        assert self._conn is not None
        try:
            kind, data = self._conn.recv()
        except EOFError:
            self._process.join()
            self._conn.close()
            self._conn = None
            raise RuntimeError(
                f"The dedicated process of model '{self.name}' exited while loading "
                f"(exit code {self._process.exitcode})"
            ) from None
        if kind == "error":
            self._process.join()
            self._conn.close()
            self._conn = None
            raise _unpack_exception(data, f"the dedicated process of model '{self.name}'")
        self.pid = int(data)
        self._sock = socket.socket(fileno=os.dup(self._conn.fileno()))
        self._sock.settimeout(None)  # blocking: the reader shares the file's flags
        # daemon threads: a child that never reads must not hold up the interpreter's exit
        self._reader = threading.Thread(
            target=self._read_replies, name=f"sg-reader-{self.name}", daemon=True
        )
        self._sender = threading.Thread(
            target=self._send_requests, name=f"sg-sender-{self.name}", daemon=True
        )
        self._reader.start()
        self._sender.start()

    async def call(self, body: Any, origin_name: str | None, artifact: Any) -> Any:
        if self._conn is None or self._sender is None:
            raise RuntimeError(f"Model '{self.name}' was not loaded: call load() first")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._dead:
                raise RuntimeError(self._dead)
            request_id = next(self._ids)
            self._pending[request_id] = (loop, future)
        try:
            # pickled here, as Connection.send() would: the child gets the body as it is now,
            # an unpicklable request fails in the caller, and pickling holds the GIL anyway
            data = ForkingPickler.dumps((request_id, body, origin_name, artifact))
            self._write(request_id, _framed(data))
        except BaseException:
            with self._lock:
                self._pending.pop(request_id, None)
            raise
        return await future

    def _write(self, request_id: int, pieces: Pieces) -> None:
        """Write what the pipe takes now; queue the rest (and all, behind a backlog)."""
        assert self._sock is not None
        with self._write_lock:
            if not self._backlog:
                try:
                    sent = self._sock.sendmsg(pieces, (), socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                pieces = _unsent(pieces, sent)
                if not pieces:
                    return
            self._backlog += 1
            self._outbox.put((request_id, pieces))

    def _send_requests(self) -> None:
        assert self._sock is not None
        while (item := self._outbox.get()) is not _STOP:
            request_id, pieces = item
            try:
                for piece in pieces:
                    self._sock.sendall(piece)  # waits while the pipe is full: only this thread
            except Exception as exc:
                # the child is gone (or the pipe closed): fail this request, not the sender
                with self._lock:
                    waiter = self._pending.pop(request_id, None)
                if waiter is not None:
                    _call_soon(waiter[0], _settle, waiter[1], False, exc)
            with self._write_lock:
                self._backlog -= 1
        self._send_stop()

    def _send_stop(self) -> None:
        try:
            if self._conn is not None and not self._dead:
                self._conn.send(None)
        except (OSError, ValueError):
            pass

    def _read_replies(self) -> None:
        assert self._conn is not None
        while True:
            try:
                request_id, ok, data = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                waiter = self._pending.pop(request_id, None)
            if waiter is not None:
                loop, future = waiter
                value = data if ok else _unpack_exception(data, self.where)
                _call_soon(loop, _settle, future, ok, value)
        self._fail_pending()

    def _fail_pending(self) -> None:
        self._process.join(timeout=5)
        with self._lock:
            self._dead = (
                f"The dedicated process (pid {self.pid}) of model '{self.name}' has stopped "
                f"(exit code {self._process.exitcode})"
            )
            pending, self._pending = self._pending, {}
        for loop, future in pending.values():
            _call_soon(loop, _settle, future, False, RuntimeError(self._dead))

    def close(self) -> None:
        if self._process is None:
            return
        if self._sender is not None:
            with self._write_lock:  # after the requests already written or queued
                self._backlog += 1  # and before any later one
                self._outbox.put(_STOP)
        else:
            self._send_stop()  # started but never ready
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        if self._sender is not None:
            self._sender.join()  # a send still blocked fails once the child is gone
        if self._reader is not None:
            self._reader.join()  # ends on the EOF of the child's exit
        if self._sock is not None:
            self._sock.close()
        if self._conn is not None:
            self._conn.close()
        self._process = None


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return  # the caller gave up (cancelled)
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass  # that loop is closed: nobody is waiting any more


__all__ = ["DedicatedProcess", "exception_by_name"]
