"""Deployments, the gateway's Service, PodDisruptionBudgets and the topic-creation Job.

Every pod runs the image's `streamgraph` as a non-root user on a read-only root filesystem,
with no privilege escalation and no capabilities; what must be writable is an emptyDir
(STREAMGRAPH_STATE_DIR: Faust's data folder and the local state; /tmp).
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .environment import KAFKA_FILES_DIR, STATE_DIR, KafkaAccess, secret_env
from .naming import labels
from .processes import GATEWAY_PORT, METRICS_PORT, WEB_PORT, Process

__all__ = [
    "MEASURED_WORKER_RSS_MIB",
    "RUN_AS",
    "Pods",
    "deployment",
    "disruption_budget",
    "gateway_service",
    "topics_job",
]

# RSS of `streamgraph worker topologies.cyclic` once Ready (its log's "[^Worker]: Ready"), read
# from /proc/PID/status VmRSS: 106,980 kB = 104.5 MiB (Python 3.11, faust-streaming 0.15,
# uvloop, a local Kafka from `streamgraph kafka start`, idle; README "Running on Kubernetes").
# The request is that with headroom; the limit doubles it for bursts of in-flight events and
# models a step loads. A graph whose steps hold models needs its own figures
# (`streamgraph manifests --memory REQUEST:LIMIT`).
MEASURED_WORKER_RSS_MIB = 105
MEMORY_REQUEST = "128Mi"
MEMORY_LIMIT = "256Mi"
CPU_REQUEST = "100m"  # no CPU limit: throttling a worker shows as latency, not as savings
RUN_AS = 10001  # the image's `streamgraph` user (Dockerfile)


class Pods:
    """What every pod of the function shares: image, ConfigMap, Secret, Kafka access."""

    def __init__(
        self,
        instance: str,
        image: str,
        config: str,
        secret: str,
        access: KafkaAccess,
        settings: Settings,
        memory: tuple[str, str] = (MEMORY_REQUEST, MEMORY_LIMIT),
    ) -> None:
        self.instance = instance
        self.image = image
        self.config = config
        self.secret = secret
        self.access = access
        self.settings = settings
        self.memory = memory

    def labels(self, process: Process) -> dict[str, str]:
        return labels(self.instance, process.kind, process.function, process.model)

    def container(self, name: str, args: list[str]) -> dict[str, Any]:
        """A `streamgraph ARGS` container with the settings, credentials and volumes."""
        container: dict[str, Any] = {
            "name": name,
            "image": self.image,
            "command": ["streamgraph"],
            "args": args,
            "envFrom": [{"configMapRef": {"name": self.config}}],
            "resources": {
                "requests": {"cpu": CPU_REQUEST, "memory": self.memory[0]},
                "limits": {"memory": self.memory[1]},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [
                {"name": "state", "mountPath": STATE_DIR},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        }
        env = secret_env(self.access, self.secret)
        if env:
            container["env"] = env
        if self.access.files:
            mount = {"name": "kafka-files", "mountPath": KAFKA_FILES_DIR, "readOnly": True}
            container["volumeMounts"].append(mount)
        return container

    def pod_spec(self, container: dict[str, Any], restart: str = "Always") -> dict[str, Any]:
        volumes: list[dict[str, Any]] = [
            {"name": "state", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ]
        if self.access.files:
            items = [{"key": key, "path": key} for key in self.access.files]
            secret = {"secretName": self.secret, "items": items, "defaultMode": 0o440}
            volumes.append({"name": "kafka-files", "secret": secret})
        return {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # the worker's own stop deadline (SIGTERM: drain, commit), then a margin
            "terminationGracePeriodSeconds": int(self.settings.stop_timeout_seconds) + 10,
            "restartPolicy": restart,
            "containers": [container],
            "volumes": volumes,
        }


def _probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def deployment(pods: Pods, process: Process) -> dict[str, Any]:
    """The Deployment of `process` (one replica; KEDA scales the workers)."""
    container = pods.container(process.kind, list(process.args))
    if process.kind == "worker":
        container["ports"] = [
            {"name": "web", "containerPort": WEB_PORT},
            {"name": "metrics", "containerPort": METRICS_PORT},
        ]
        # alive: the metrics thread answers; ready: Faust's web view, up once the worker
        # started and recovered its tables (a first rebalance can take a while: 5 min)
        container["livenessProbe"] = _probe("/metrics", "metrics", 10, 6)
        container["readinessProbe"] = _probe("/", "web", 5, 3)
        container["startupProbe"] = _probe("/", "web", 5, 60)
    elif process.kind == "gateway":
        container["ports"] = [{"name": "http", "containerPort": GATEWAY_PORT}]
        container["livenessProbe"] = _probe("/healthz", "http", 10, 3)
        container["readinessProbe"] = _probe("/readyz", "http", 5, 3)
    # a model worker serves no HTTP port (engines/kafka/model_worker.py): no HTTP probe; the
    # process exits when it fails, and Kubernetes restarts it
    match = pods.labels(process)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": process.name, "labels": match},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": match},
            "template": {"metadata": {"labels": match}, "spec": pods.pod_spec(container)},
        },
    }


def gateway_service(pods: Pods, process: Process) -> dict[str, Any]:
    match = pods.labels(process)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": process.name, "labels": match},
        "spec": {
            "selector": match,
            "ports": [{"name": "http", "port": GATEWAY_PORT, "targetPort": "http"}],
        },
    }


def disruption_budget(pods: Pods, process: Process) -> dict[str, Any]:
    """At most one pod of the Deployment evicted at a time (minAvailable would block a drain
    of a one-replica Deployment for ever)."""
    match = pods.labels(process)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": process.name, "labels": match},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": match}},
    }


def topics_job(pods: Pods, name: str, topology: str, function: str) -> dict[str, Any]:
    """A Job running `streamgraph topics TOPOLOGY` (creates what is missing, then exits)."""
    match = labels(pods.instance, "topics", function)
    container = pods.container("topics", ["topics", topology])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": match},
        "spec": {
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": match},
                "spec": pods.pod_spec(container, restart="OnFailure"),
            },
        },
    }
