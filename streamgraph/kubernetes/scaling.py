"""KEDA: a ScaledObject per worker Deployment, scaling it on its consumer group's lag.

Written for KEDA 2.16 (keda.sh/v1alpha1; the `kafka` scaler): one trigger per topic the worker
reads (metadata bootstrapServers, consumerGroup = the group the worker really joins, topic,
lagThreshold = STREAMGRAPH_KEDA_LAG_THRESHOLD; sasl and tls in the metadata, which KEDA takes
there as well as from a TriggerAuthentication) and, on a secured cluster, a
TriggerAuthentication whose secretTargetRef takes username, password and the certificate files
from the credentials' Secret. maxReplicaCount is never above the partition count: a worker
beyond it would own no partition and sit idle.
"""

from __future__ import annotations

from typing import Any

from ..errors import ManifestError
from ..settings import Settings
from .environment import PASSWORD, USERNAME, KafkaAccess
from .processes import Process

__all__ = ["KEDA_VERSION", "max_replicas", "scaled_object", "trigger_authentication"]

KEDA_VERSION = "2.16"
_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
# KEDA's TriggerAuthentication parameter -> the Secret's key (environment.py)
_FILE_PARAMETERS = {"ca": "ca.pem", "cert": "client.crt", "key": "client.key"}


def max_replicas(settings: Settings, asked: int | None) -> int:
    """The replicas KEDA may scale a worker to: the partitions, or fewer if asked."""
    partitions = settings.partitions
    if asked is None:
        return partitions
    if asked > partitions:
        raise ManifestError(
            f"--max-replicas {asked} is more than the {partitions} partitions of each topic "
            "(STREAMGRAPH_PARTITIONS): a worker beyond the partition count owns no partition "
            "and sits idle; raise STREAMGRAPH_PARTITIONS (before the topics are created) or ask "
            f"for at most {partitions}"
        )
    if asked < 1:
        raise ManifestError(f"--max-replicas {asked}: at least 1")
    return asked


def _sasl(access: KafkaAccess) -> str:
    if access.sasl_mechanism is None:
        return "none"
    if access.sasl_mechanism not in _SASL:
        raise ManifestError(
            f"STREAMGRAPH_KAFKA_SASL_MECHANISM={access.sasl_mechanism}: KEDA's Kafka scaler "
            "cannot call streamgraph's token provider; write the manifests with --no-keda and "
            "scale the workers another way"
        )
    return _SASL[access.sasl_mechanism]


def scaled_object(
    process: Process,
    settings: Settings,
    access: KafkaAccess,
    replicas: int,
    authentication: str | None,
) -> dict[str, Any]:
    """The ScaledObject of a worker's Deployment (named as the process)."""
    triggers = []
    for topic in process.topics:
        metadata = {
            "bootstrapServers": settings.brokers,
            "consumerGroup": process.consumer_group,
            "topic": topic,
            "lagThreshold": str(settings.keda_lag_threshold),
            "offsetResetPolicy": "earliest",  # what Faust's consumers do with no offset
        }
        if access.secured:
            metadata["sasl"] = _sasl(access)
            metadata["tls"] = "enable" if access.tls else "disable"
        trigger: dict[str, Any] = {"type": "kafka", "metadata": metadata}
        if authentication is not None:
            trigger["authenticationRef"] = {"name": authentication}
        triggers.append(trigger)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": process.name},
        "spec": {
            "scaleTargetRef": {"name": process.name},
            "minReplicaCount": 1,  # never 0: the first request would wait for a pod
            "maxReplicaCount": replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }


def trigger_authentication(name: str, secret: str, access: KafkaAccess) -> dict[str, Any]:
    """What KEDA reads from the credentials' Secret to reach a secured cluster."""
    refs = []
    if access.login:
        refs.append({"parameter": "username", "name": secret, "key": USERNAME})
        refs.append({"parameter": "password", "name": secret, "key": PASSWORD})
    for parameter, key in _FILE_PARAMETERS.items():
        if key in access.files:
            refs.append({"parameter": parameter, "name": secret, "key": key})
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": name},
        "spec": {"secretTargetRef": refs},
    }
