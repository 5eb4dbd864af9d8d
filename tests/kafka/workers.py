"""Start and stop real worker processes (`streamgraph worker ...`) for the Kafka tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


class Worker:
    """One `streamgraph worker` process; stopped by its pid."""

    def __init__(
        self,
        topology: str,
        env: dict[str, str],
        folder: Path,
        name: str,
        function: str | None = None,
        extra_args: tuple[str, ...] = (),
        argv: list[str] | None = None,
    ) -> None:
        """`argv` replaces the `streamgraph worker` command line (e.g. a plain Faust worker)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv
            or [
                sys.executable,
                "-m",
                "streamgraph.cli",
                "worker",
                topology,
                "-l",
                "info",
                *(["--function", function] if function else []),
                *extra_args,
            ],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if "Ready" in self.log():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class WorkerFactory:
    """Workers of one topology on one broker, with a fresh topic prefix per test."""

    def __init__(self, brokers: str, folder: Path, partitions: int = 4) -> None:
        self.brokers = brokers
        self.prefix = f"sgw{uuid.uuid4().hex[:8]}"
        self.folder = folder
        self.env = {
            **os.environ,
            "STREAMGRAPH_BROKERS": brokers,
            "STREAMGRAPH_TOPIC_PREFIX": self.prefix,
            "STREAMGRAPH_PARTITIONS": str(partitions),
        }
        self.workers: list[Worker] = []

    def start(
        self,
        topology: str,
        ready: bool = True,
        function: str | None = None,
        extra_args: tuple[str, ...] = (),
        argv: list[str] | None = None,
    ) -> Worker:
        folder = self.folder / f"w{len(self.workers)}"
        worker = Worker(
            topology, self.env, folder, "worker", function, extra_args=extra_args, argv=argv
        )
        self.workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def topic(self, function: str, name: str) -> str:
        return f"{self.prefix}.{function}.{name}"

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


def workers(brokers: str, folder: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(brokers, folder)
    try:
        yield factory
    finally:
        factory.close()


async def produce(
    brokers: str, topic: str, records: list[tuple[bytes | None, bytes, list[Any]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=brokers, linger_ms=5, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def collect(
    brokers: str,
    topic: str,
    want: int,
    timeout: float,
    key_of: Any = None,
    isolation_level: str = "read_uncommitted",
) -> list[Any]:
    """Read `topic` from the start until `want` records (or distinct keys) or the timeout."""
    records: list[Any] = []
    keys: set[Any] = set()
    deadline = time.monotonic() + timeout
    async with reading(brokers, topic, isolation_level) as consumer:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    records.append(message)
                    if key_of is not None:
                        keys.add(key_of(message))
            if (len(keys) if key_of is not None else len(records)) >= want:
                break
    return records


@asynccontextmanager
async def reading(
    brokers: str, topic: str, isolation_level: str = "read_uncommitted"
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer of `topic` from its first record, in no group; stopped after."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=brokers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


def body(message: Any) -> Any:
    return orjson.loads(message.value)
