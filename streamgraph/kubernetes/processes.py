"""The long-running processes of a function on Kubernetes, and what each one reads.

One entry per Deployment: the step worker of the function and of each child function
(`streamgraph worker TOPOLOGY [--function NAME]`, consumer group = the Faust app id
`<prefix>.<function>`, engines/kafka/function_workers.py), a model worker per dedicated_process
shared model (`--model NAME`, group `<prefix>.<function>.model.<name>`, reading its request
topic, engines/kafka/remote_model.py) and the gateway (`streamgraph gateway TOPOLOGY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..engines.kafka.function_workers import compile_worker, worker_names
from ..engines.kafka.remote_model import consumer_group, dedicated_models, request_topic
from ..settings import Settings
from .naming import dns_name

__all__ = ["GATEWAY_PORT", "METRICS_PORT", "WEB_PORT", "Process", "function_processes"]

# the worker serves Faust's web views here (GET / answers {"status": "OK"} once the worker has
# started and recovered its tables: the readiness probe) and Prometheus /metrics there (served
# by a thread from the start of the process: the liveness probe)
WEB_PORT = 8081
METRICS_PORT = 9108
GATEWAY_PORT = 8080

Kind = Literal["worker", "model-worker", "gateway"]


@dataclass(frozen=True)
class Process:
    """One Deployment's process: its `streamgraph` arguments, and for Kafka consumers the
    group it joins and the topics it reads (what KEDA watches)."""

    kind: Kind
    function: str
    name: str
    args: tuple[str, ...]
    model: str | None = None
    consumer_group: str | None = None
    topics: tuple[str, ...] = ()


def function_processes(function: Any, topology: str, settings: Settings) -> list[Process]:
    """The processes that run `function` (named `topology` on the command line) on Kafka."""
    found = []
    for name in worker_names(function):
        worker = compile_worker(function, name, settings)
        args = ["worker", topology, "--web-port", str(WEB_PORT)]
        args += ["--metrics-port", str(METRICS_PORT), "--metrics-host", "0.0.0.0"]
        args += [] if name == function.name else ["--function", name]
        found.append(
            Process(
                "worker",
                name,
                dns_name(name, "worker"),
                tuple(args),
                consumer_group=worker.app_id,
                topics=tuple(worker.topics_read()),
            )
        )
    if settings.dedicated_model_workers:
        for model in dedicated_models(function):
            found.append(
                Process(
                    "model-worker",
                    function.name,
                    dns_name(function.name, "model", model),
                    ("worker", topology, "--model", model),
                    model=model,
                    consumer_group=consumer_group(settings, function.name, model),
                    topics=(request_topic(settings, function.name, model),),
                )
            )
    gateway = ("gateway", topology, "--host", "0.0.0.0", "--port", str(GATEWAY_PORT))
    found.append(Process("gateway", function.name, dns_name(function.name, "gateway"), gateway))
    return found
