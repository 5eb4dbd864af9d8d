"""A model worker: `streamgraph worker topologies.NAME --model SHARED_MODEL`.

It loads one shared model of the topology's function once and answers the step workers'
requests from `<prefix>.<function>.model.<name>.req` (see `remote_model.py`). Requests of one
fetched batch run concurrently; the batch's offsets are committed once every reply of the batch
was delivered, so a model worker that dies mid-batch leaves those requests to the next one
(at-least-once: a request may be answered twice; the caller keeps the first answer).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ...connection.kafka_security import kafka_security
from ...errors import StreamgraphError
from ...gc_tuning import tune_gc
from ...serving.artifacts import Artifact
from ...serving.mechanisms import ASYNCIO, THREAD_POOL, Runnable, make_runnable
from ...serving.model import Model
from ...serving.shared import SharedModelRegistry
from ...settings import Settings
from ...wire.codec import H_CORRELATION, H_REPLY_TO
from ...wire.producer import TrackingProducer
from .remote_model import (
    consumer_group,
    declare_topic,
    dedicated_models,
    encode_error,
    request_topic,
)

logger = logging.getLogger("streamgraph.kafka.models")


def proxy_artifacts(function: Any, model: str, registry: SharedModelRegistry) -> dict[str, Any]:
    """Endpoint name -> artifact of every proxy of shared model `model` in the function's graph."""
    found: dict[str, Any] = {}
    for step in function.spec.graph:
        runner = getattr(step, "class_name", None)
        proxies = getattr(runner, "proxies", None)
        if not callable(proxies):
            continue
        for endpoint, shared in proxies().items():
            spec = runner._specs[endpoint]  # type: ignore[union-attr]
            target = shared or registry.find_by_artifact(spec.model_artifact)
            if target == model:
                found[endpoint] = spec.model_artifact
    return found


class ModelService:
    """Loads shared model `model` of `function` here and answers its request topic."""

    def __init__(self, function: Any, model: str, settings: Settings) -> None:
        names = dedicated_models(function)
        if model not in names:
            raise StreamgraphError(
                f"{function.name} has no shared model {model!r} with execution_mechanism="
                f"'dedicated_process' (those it has: {', '.join(names) or 'none'})"
            )
        self.function = function
        self.model = model
        self.settings = settings
        registry = SharedModelRegistry.from_specs(function.spec.graph.shared_models)
        self.spec = registry.spec(model)
        self.artifacts: dict[str, Artifact | None] = proxy_artifacts(function, model, registry)
        self.topic = request_topic(settings, function.name, model)
        self.served = 0
        self._runnable: Runnable | None = None
        self._stopping = asyncio.Event()

    def _load(self) -> Runnable:
        """The model, run in a thread (or in the loop for asyncio-only models)."""
        model = self.spec.build(self.function.namespace())
        has_predict = type(model).predict is not Model.predict
        runnable = make_runnable(model, THREAD_POOL if has_predict else ASYNCIO)
        runnable.load()
        return runnable

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        self._runnable = await asyncio.get_running_loop().run_in_executor(None, self._load)
        await declare_topic(self.settings, self.topic, self.settings.partitions)
        security = kafka_security(self.settings)
        producer = TrackingProducer(
            bootstrap_servers=self.settings.brokers, acks="all", **security.aiokafka_args()
        )
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.settings.brokers,
            group_id=consumer_group(self.settings, self.function.name, self.model),
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # requests sent before any model worker ran
            session_timeout_ms=6000,  # a killed model worker's partitions move on in ~6 s
            heartbeat_interval_ms=1000,
            **security.aiokafka_args(),
        )
        await producer.start()
        await consumer.start()
        try:
            await self._serve(consumer, producer)
        finally:
            await consumer.stop()  # leaves the group: the others take over at once
            await producer.stop()
            await self._runnable.aclose()

    async def _serve(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        ready = False
        while not self._stopping.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not ready and consumer.assignment():
                ready = True
                logger.info(
                    "model worker of %s (function %s) on %s: Ready",
                    self.model,
                    self.function.name,
                    self.topic,
                )
            records = [record for part in batch.values() for record in part]
            if not records:
                continue
            deliveries = await asyncio.gather(*(self._answer(r, producer) for r in records))
            await asyncio.gather(*(d for d in deliveries if d is not None))
            await consumer.commit()  # only now: the replies are safe
            self.served += len(records)

    async def _answer(self, record: Any, producer: AIOKafkaProducer) -> Any:
        headers = dict(record.headers or ())
        reply_to = headers.get(H_REPLY_TO, b"").decode()
        correlation = headers.get(H_CORRELATION, b"")
        if not reply_to:
            logger.warning("request without a reply topic on %s: dropped", self.topic)
            return None
        assert self._runnable is not None
        try:
            request = orjson.loads(record.value)
            origin = request.get("origin")
            value = await self._runnable.run(
                request.get("body"), origin, self.artifacts.get(origin or "")
            )
            reply: dict[str, Any] = {"ok": True, "value": value}
            payload = orjson.dumps(reply, option=orjson.OPT_SERIALIZE_NUMPY)
        except Exception as exc:  # the model's error is the caller's answer
            payload = orjson.dumps(encode_error(exc))
        return await producer.send(
            reply_to, payload, key=record.key, headers=[(H_CORRELATION, correlation)]
        )


def run_model_worker(
    function: Any, model: str, loglevel: str = "info", settings: Settings | None = None
) -> None:
    """Serve shared model `model` of `function` until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=loglevel.upper(), format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
    )
    settings = settings or Settings()
    service = ModelService(function, model, settings)
    tune_gc(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop)
        await service.run()

    asyncio.run(main())


__all__ = ["ModelService", "proxy_artifacts", "run_model_worker"]
