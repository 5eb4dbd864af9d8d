"""Strimzi `KafkaTopic` resources (kafka.strimzi.io/v1beta2), for clusters Strimzi manages.

The Topic Operator creates each topic with the settings' partitions and replicas; the
resource's name is the topic's (made a DNS name if it is not one), the real name is
`spec.topicName`.
"""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .naming import dns_subdomain

__all__ = ["kafka_topic"]


def kafka_topic(topic: str, settings: Settings, cluster: str) -> dict[str, Any]:
    """The KafkaTopic of `topic` on the Strimzi `Kafka` cluster named `cluster`."""
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": dns_subdomain(topic), "labels": {"strimzi.io/cluster": cluster}},
        "spec": {
            "topicName": topic,
            "partitions": settings.partitions,
            "replicas": settings.replication,
        },
    }
