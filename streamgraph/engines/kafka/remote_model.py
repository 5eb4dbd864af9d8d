"""Shared models in their own worker process, reached through a request and a reply topic.

On a Kafka worker (`build_app`), a shared model declared with
`execution_mechanism="dedicated_process"` is not loaded by the step workers: each proxy sends
`{"body", "origin"}` to `<prefix>.<function>.model.<name>.req` with its own reply topic and a
correlation id, and a model worker (`streamgraph worker MODULE --model NAME`, see
`model_worker.py`) loads the model once and answers there. Model workers form one consumer
group per model, so several can share the load, and a request is committed only after its
reply was delivered: a model worker killed mid-request leaves it to the next one.

    dedicated_models(function)   # the model workers a function needs, for `streamgraph run`
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ...connection.kafka_security import kafka_security
from ...errors import GatewayTimeoutError
from ...serving.mechanisms import DEDICATED_PROCESS, Runnable, exception_by_name
from ...settings import Settings
from ...wire.codec import H_CORRELATION, H_REPLY_TO
from ...wire.producer import TrackingProducer
from ...wire.reply_topics import create_topic, delete_reply_topic

if TYPE_CHECKING:
    from ...serving.artifacts import Artifact
    from ...serving.model import ModelSpec

logger = logging.getLogger("streamgraph.kafka.models")

Headers = list[tuple[str, bytes]]


def dedicated_models(function: Any) -> list[str]:
    """Names of the shared models of `function` that run in their own model worker process."""
    graph = function.spec.graph
    shared: dict[str, dict[str, Any]] = getattr(graph, "shared_models", None) or {}
    return [
        name
        for name, spec in shared.items()
        if getattr(spec.get("execution_mechanism"), "value", spec.get("execution_mechanism"))
        == DEDICATED_PROCESS
    ]


def request_topic(settings: Settings, function: str, model: str) -> str:
    return settings.topic(function, f"model.{model}.req")


def reply_topic_prefix(settings: Settings, function: str) -> str:
    """What every step worker's private reply topic for its model workers starts with."""
    return settings.topic(function, "model.replies.")


def consumer_group(settings: Settings, function: str, model: str) -> str:
    return settings.topic(function, f"model.{model}")


async def declare_topic(settings: Settings, topic: str, partitions: int) -> None:
    """Create `topic` unless it exists (a consumer must not subscribe to a missing topic)."""
    await create_topic(
        settings.brokers,
        topic,
        partitions,
        settings.replication,
        security=kafka_security(settings),
    )


# -- the wire format -----------------------------------------------------------------------------
def encode_error(exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "type": [type(exc).__module__, type(exc).__qualname__],
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def decode_error(reply: dict[str, Any], where: str) -> BaseException:
    """The model worker's exception, rebuilt by class name when it can be (else RuntimeError)."""
    module, qualname = reply.get("type") or ("builtins", "RuntimeError")
    exc = exception_by_name(module, qualname, str(reply.get("message", "")))
    exc.add_note(f"Raised in {where}:\n{reply.get('traceback', '')}")
    return exc


# -- the caller's side ---------------------------------------------------------------------------
class ModelClient:
    """One step worker's connection to its model workers: a producer and a private reply topic."""

    def __init__(self, settings: Settings, function: str) -> None:
        self.settings = settings
        self.reply_topic = reply_topic_prefix(settings, function) + uuid.uuid4().hex[:12]
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._declared: set[str] = set()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    async def _start(self) -> AIOKafkaProducer:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._producer is None:
                await declare_topic(self.settings, self.reply_topic, 1)
                security = kafka_security(self.settings)
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self.settings.brokers, **security.aiokafka_args()
                )
                await consumer.start()
                partition = TopicPartition(self.reply_topic, 0)
                consumer.assign([partition])
                await consumer.seek_to_beginning(partition)  # the topic is new and ours alone
                self._consumer = consumer
                self._reader = asyncio.create_task(self._read())
                producer = TrackingProducer(
                    bootstrap_servers=self.settings.brokers,
                    acks="all",
                    linger_ms=0,
                    **security.aiokafka_args(),
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def request(self, topic: str, body: Any, origin: str | None) -> Any:
        producer = await self._start()
        if topic not in self._declared:
            await declare_topic(self.settings, topic, self.settings.partitions)
            self._declared.add(topic)
        correlation = uuid.uuid4().hex
        answer = self._waiters[correlation] = asyncio.get_running_loop().create_future()
        headers: Headers = [
            (H_REPLY_TO, self.reply_topic.encode()),
            (H_CORRELATION, correlation.encode()),
        ]
        value = orjson.dumps({"body": body, "origin": origin}, option=orjson.OPT_SERIALIZE_NUMPY)
        try:
            await producer.send_and_wait(topic, value, key=correlation.encode(), headers=headers)
            timeout = self.settings.request_timeout_seconds
            try:
                reply = await asyncio.wait_for(answer, timeout)
            except TimeoutError:
                raise GatewayTimeoutError(
                    f"no answer from the model worker ({topic}) within {timeout:.0f} s"
                ) from None
        finally:
            self._waiters.pop(correlation, None)
        if reply.get("ok"):
            return reply.get("value")
        raise decode_error(reply, f"the model worker of {topic}")

    async def _read(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            headers = dict(record.headers or ())
            waiter = self._waiters.get(headers.get(H_CORRELATION, b"").decode())
            if waiter is None or waiter.done():
                continue  # answered twice (a redelivered request), or given up on
            try:
                waiter.set_result(orjson.loads(record.value or b"null"))
            except orjson.JSONDecodeError as exc:
                waiter.set_exception(RuntimeError(f"unreadable model reply: {exc}"))

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        started = self._producer is not None
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._producer = self._consumer = self._reader = None
        if started:
            await delete_reply_topic(
                self.settings.brokers, self.reply_topic, security=kafka_security(self.settings)
            )


class RemoteModelRunnable(Runnable):
    """A shared model served by model workers: `run()` is one request over Kafka."""

    mechanism: ClassVar[str] = DEDICATED_PROCESS

    def __init__(self, name: str, topic: str, client: ModelClient) -> None:
        super().__init__(name)
        self.topic = topic
        self.client = client

    @property
    def streaming(self) -> bool:
        return False  # process mechanisms refuse streaming models

    async def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        # the model worker looks the proxy's artifact up by its endpoint name (`origin`)
        return await self.client.request(self.topic, body, origin_name)

    async def aclose(self) -> None:
        await self.client.stop()


class RemoteModels:
    """What a Kafka graph's shared-model registry asks: a remote runnable for a spec, or None."""

    def __init__(self, settings: Settings, function: str) -> None:
        self.settings = settings
        self.function = function
        self.client = ModelClient(settings, function)

    def __call__(self, spec: ModelSpec) -> Runnable | None:
        if spec.execution_mechanism != DEDICATED_PROCESS:
            return None
        topic = request_topic(self.settings, self.function, spec.name)
        return RemoteModelRunnable(spec.name, topic, self.client)


__all__ = [
    "ModelClient",
    "RemoteModelRunnable",
    "RemoteModels",
    "consumer_group",
    "dedicated_models",
    "reply_topic_prefix",
    "request_topic",
]
