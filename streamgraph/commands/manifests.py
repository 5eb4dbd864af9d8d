"""`streamgraph manifests TOPOLOGY --image IMAGE`: Kubernetes YAML derived from the graph.

streamgraph/kubernetes/ builds it; this command reads the settings without their secrets
(`settings_without_secrets`: STREAMGRAPH_KAFKA_SASL_PASSWORD and the rest are never read) and
writes one multi-document file per function into --out, or prints them all. Nothing connects
to Kafka or Kubernetes.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import StreamgraphError
from ..settings import settings_without_secrets
from .common import load, topology_argument


@click.command()
@topology_argument
@click.option("--image", required=True, help="The image every pod runs (see the Dockerfile).")
@click.option("--namespace", default=None, help="metadata.namespace of every object.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <function>.yaml per function and <function>-shared.yaml here (default: print).",
)
@click.option(
    "--topics",
    "topics",
    type=click.Choice(["job", "strimzi"]),
    default="job",
    show_default=True,
    help="Create the topics with a Job running `streamgraph topics`, or as Strimzi KafkaTopics.",
)
@click.option(
    "--strimzi-cluster",
    default="my-cluster",
    show_default=True,
    help="The strimzi.io/cluster label of the KafkaTopics (the Strimzi Kafka resource's name).",
)
@click.option(
    "--secret",
    default=None,
    help="The Secret holding the Kafka credentials (default: <function>-kafka); only named.",
)
@click.option(
    "--max-replicas",
    type=int,
    default=None,
    help="KEDA's maxReplicaCount per worker (default and most: STREAMGRAPH_PARTITIONS).",
)
@click.option(
    "--memory",
    default=None,
    metavar="REQUEST:LIMIT",
    help="Memory of every pod, such as 512Mi:1Gi (default 128Mi:256Mi, from a measured worker; "
    "a graph whose steps load models needs more).",
)
@click.option("--keda/--no-keda", default=True, show_default=True, help="KEDA ScaledObjects.")
@click.option("--brokers", default=None, help="Bootstrap servers (default: STREAMGRAPH_BROKERS).")
def manifests(
    topology: str,
    image: str,
    namespace: str | None,
    out: Path | None,
    topics: str,
    strimzi_cluster: str,
    secret: str | None,
    max_replicas: int | None,
    memory: str | None,
    keda: bool,
    brokers: str | None,
) -> None:
    """Write Kubernetes manifests for TOPOLOGY: workers, model workers, gateway, topics, KEDA."""
    from ..kubernetes.manifests import Options, function_manifests, to_yaml, write_manifests

    settings = settings_without_secrets(**({"brokers": brokers} if brokers else {}))
    if not settings.brokers_given:
        raise click.ClickException(
            "where is Kafka from inside the cluster? Pass --brokers or set STREAMGRAPH_BROKERS "
            "(such as my-cluster-kafka-bootstrap.kafka:9092)"
        )
    function = load(topology)
    request, limit = _memory(memory)
    options = Options(
        image=image,
        namespace=namespace,
        topics="strimzi" if topics == "strimzi" else "job",
        strimzi_cluster=strimzi_cluster,
        secret=secret,
        max_replicas=max_replicas,
        keda=keda,
        memory_request=request,
        memory_limit=limit,
    )
    try:
        files = function_manifests(function, topology, options, settings)
    except StreamgraphError as exc:
        raise click.ClickException(str(exc)) from exc
    if out is None:
        for name, documents in files.items():
            click.echo(f"# {name}\n{to_yaml(documents)}", nl=False)
        return
    for path in write_manifests(files, out):
        click.echo(str(path))


def _memory(memory: str | None) -> tuple[str, str]:
    from ..kubernetes.workloads import MEMORY_LIMIT, MEMORY_REQUEST

    if memory is None:
        return MEMORY_REQUEST, MEMORY_LIMIT
    request, _, limit = memory.partition(":")
    if not request or not limit:
        raise click.BadParameter(f"{memory!r}: expected REQUEST:LIMIT", param_hint="--memory")
    return request, limit


__all__ = ["manifests"]
