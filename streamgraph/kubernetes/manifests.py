"""All the manifests of a function, grouped in files, and their YAML.

    files = function_manifests(function, "topologies.cyclic", Options(image="repo/img:1"))
    write_manifests(files, Path("k8s"))      # one multi-document YAML file per group

Files: `<function>.yaml` per function and child function (its worker's Deployment,
PodDisruptionBudget and ScaledObject; the function's file also holds its model workers' and the
gateway's, with the gateway's Service), and `<function>-shared.yaml` (the ConfigMap, the
TriggerAuthentication, the topics' Job or KafkaTopics). Nothing connects to Kafka or Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ..engines.kafka.function_workers import compile_worker, worker_names
from ..engines.kafka.remote_model import dedicated_models, request_topic
from ..settings import Settings
from .environment import config_data, kafka_access
from .naming import dns_name
from .processes import function_processes
from .scaling import max_replicas, scaled_object, trigger_authentication
from .strimzi import kafka_topic
from .workloads import (
    MEMORY_LIMIT,
    MEMORY_REQUEST,
    Pods,
    deployment,
    disruption_budget,
    gateway_service,
    topics_job,
)

__all__ = ["Options", "function_manifests", "function_topics", "to_yaml", "write_manifests"]

Document = dict[str, Any]


@dataclass(frozen=True)
class Options:
    """What `streamgraph manifests` was asked for (settings aside)."""

    image: str
    namespace: str | None = None
    topics: Literal["job", "strimzi"] = "job"
    strimzi_cluster: str = "my-cluster"
    secret: str | None = None  # default: <function>-kafka
    max_replicas: int | None = None
    keda: bool = True
    memory_request: str = MEMORY_REQUEST
    memory_limit: str = MEMORY_LIMIT


def function_topics(function: Any, settings: Settings) -> list[str]:
    """Every topic of the function and its children (what `streamgraph topics` creates), and
    its dedicated model workers' request topics."""
    names: list[str] = []
    for name in worker_names(function):
        names.extend(compile_worker(function, name, settings).topology.all_topics())
    if settings.dedicated_model_workers:
        names.extend(request_topic(settings, function.name, m) for m in dedicated_models(function))
    return list(dict.fromkeys(names))


def function_manifests(
    function: Any, topology: str, options: Options, settings: Settings
) -> dict[str, list[Document]]:
    """File name -> its documents, for `function` (as `topology` names it) under `settings`
    (read with `settings_without_secrets`: no secret value reaches a document)."""
    access = kafka_access(settings)
    replicas = max_replicas(settings, options.max_replicas)
    base = dns_name(function.name)
    secret = options.secret or f"{base}-kafka"
    config = f"{base}-settings"
    pods = Pods(
        function.name,
        options.image,
        config,
        secret,
        access,
        settings,
        (options.memory_request, options.memory_limit),
    )
    shared: list[Document] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config},
            "data": config_data(settings, access),
        }
    ]
    authentication = None
    if options.keda and access.secured:
        authentication = f"{base}-kafka-keda"
        shared.append(trigger_authentication(authentication, secret, access))
    if options.topics == "strimzi":
        cluster = options.strimzi_cluster
        shared.extend(
            kafka_topic(t, settings, cluster) for t in function_topics(function, settings)
        )
    else:
        shared.append(topics_job(pods, f"{base}-topics", topology, function.name))
    files: dict[str, list[Document]] = {f"{base}-shared.yaml": shared}
    for process in function_processes(function, topology, settings):
        documents = [deployment(pods, process), disruption_budget(pods, process)]
        if process.kind == "gateway":
            documents.append(gateway_service(pods, process))
        elif options.keda:
            documents.append(scaled_object(process, settings, access, replicas, authentication))
        files.setdefault(f"{dns_name(process.function)}.yaml", []).extend(documents)
    if options.namespace:
        for documents in files.values():
            for document in documents:
                document["metadata"]["namespace"] = options.namespace
    return files


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, no anchors for repeated labels."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> bool:
        return bool(super().increase_indent(flow, False))


def to_yaml(documents: list[Document]) -> str:
    """The documents as one multi-document YAML text, keys in the order built."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def write_manifests(files: dict[str, list[Document]], folder: Path) -> list[Path]:
    """Write each file into `folder` (made if missing); the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, documents in files.items():
        path = folder / name
        path.write_text(to_yaml(documents))
        written.append(path)
    return written
