"""`streamgraph manifests`: every document valid against the Kubernetes API schemas (the
kubernetes-validate package) or, for KEDA and Strimzi resources, against
kubernetes_crd_schemas.py; derived from the real graph; no secret ever written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from kubernetes_crd_schemas import CUSTOM

from streamgraph.cli import main
from streamgraph.settings import Settings

KUBERNETES = "1.30.0"
SECURED = {
    "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "STREAMGRAPH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "STREAMGRAPH_KAFKA_SASL_USERNAME": "alice",
    "STREAMGRAPH_KAFKA_SSL_CAFILE": "/home/me/ca.pem",
}
PASSWORD = "correct-horse-battery-staple-7f3a"


def manifests(*args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The documents `streamgraph manifests ARGS` prints."""
    argv = ["manifests", *args, "--image", "registry.example/streamgraph:1"]
    done = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return [d for d in yaml.safe_load_all(done.output) if d]


def kinds(documents: list[dict[str, Any]]) -> list[str]:
    return [d["kind"] for d in documents]


def validate(document: dict[str, Any]) -> None:
    if document["kind"] in CUSTOM:
        jsonschema.validate(document, CUSTOM[document["kind"]])
    else:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


@pytest.mark.parametrize("topology", ["cyclic", "queue_child", "shared_llm"])
@pytest.mark.parametrize("topics", ["job", "strimzi"])
@pytest.mark.parametrize("secured", [False, True], ids=["plaintext", "sasl_ssl"])
def test_every_document_validates(topology: str, topics: str, secured: bool) -> None:
    env = SECURED if secured else {}
    args = [f"topologies.{topology}", "--brokers", "kafka:9092", "--topics", topics]
    documents = manifests(*args, "--namespace", "serving", env=env)
    for document in documents:
        validate(document)
    assert {d["metadata"]["namespace"] for d in documents} == {"serving"}
    assert ("TriggerAuthentication" in kinds(documents)) is secured
    assert ("KafkaTopic" in kinds(documents)) is (topics == "strimzi")
    assert ("Job" in kinds(documents)) is (topics == "job")


def test_cyclic_function() -> None:
    """One worker (group = the Faust app id), the gateway and its Service, the topics Job."""
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9092")
    assert kinds(documents) == [
        "ConfigMap",
        "Job",
        *["Deployment", "PodDisruptionBudget", "ScaledObject"],
        *["Deployment", "PodDisruptionBudget", "Service"],
    ]
    [scaled] = [d for d in documents if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "cyclic-function-worker"
    assert scaled["spec"]["maxReplicaCount"] == Settings().partitions
    topics = {t["metadata"]["topic"] for t in scaled["spec"]["triggers"]}
    assert "sg.cyclic-function.in" in topics and "sg.cyclic-function.generator" in topics
    assert {t["metadata"]["consumerGroup"] for t in scaled["spec"]["triggers"]} == {
        "sg.cyclic-function"
    }
    assert {t["metadata"]["lagThreshold"] for t in scaled["spec"]["triggers"]} == {"10"}


def test_consumer_groups_are_those_the_workers_join() -> None:
    """The groups KEDA watches are the Faust apps' ids (their consumer group), per worker."""
    from streamgraph.engines.kafka.app import KafkaGraph
    from topologies.queue_child import function

    settings = Settings(brokers="kafka:9092")
    joined = {KafkaGraph(function, settings).app.conf.id}
    joined |= {
        KafkaGraph(function, settings, current_function=child).app.conf.id
        for child in function.child_functions
    }
    documents = manifests("topologies.queue_child", "--brokers", "kafka:9092")
    groups = {
        trigger["metadata"]["consumerGroup"]
        for d in documents
        if d["kind"] == "ScaledObject"
        for trigger in d["spec"]["triggers"]
    }
    assert groups == joined and len(groups) == 2


def test_model_workers_scale_on_their_request_topic() -> None:
    documents = manifests("topologies.shared_llm", "--brokers", "kafka:9092")
    [model] = [
        d
        for d in documents
        if d["kind"] == "ScaledObject" and "model" in d["spec"]["scaleTargetRef"]["name"]
    ]
    [trigger] = model["spec"]["triggers"]
    assert trigger["metadata"]["topic"] == "sg.open-ai-tut.model.shared_llm.req"
    assert trigger["metadata"]["consumerGroup"] == "sg.open-ai-tut.model.shared_llm"


def test_the_commands_are_what_streamgraph_accepts() -> None:
    """Every container's args parse with the `streamgraph` CLI's own parser, and every
    variable it gets names a setting whose value the settings accept."""
    documents = manifests("topologies.shared_llm", "--brokers", "kafka:9092", env=SECURED)
    [config] = [d["data"] for d in documents if d["kind"] == "ConfigMap"]
    fields = {f"STREAMGRAPH_{name.upper()}": name for name in Settings.model_fields}
    assert set(config) <= set(fields)
    Settings(**{fields[key]: value for key, value in config.items()})
    checked = 0
    for document in documents:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        [container] = document["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["streamgraph"]
        name, *args = container["args"]
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None, name
        command.make_context(name, list(args))  # raises on an unknown option or a bad value
        for variable in container.get("env", []):
            assert variable["name"] in fields
            assert "value" not in variable  # credentials only by reference
        checked += 1
    assert checked == 4  # topics Job, worker, model worker, gateway


def test_a_secret_is_never_read_nor_written(tmp_path: Path) -> None:
    env = {**SECURED, "STREAMGRAPH_KAFKA_SASL_PASSWORD": PASSWORD}
    argv = ["manifests", "topologies.cyclic", "--image", "i:1", "--brokers", "kafka:9093"]
    done = CliRunner().invoke(main, [*argv, "--out", str(tmp_path)], env=env)
    assert done.exit_code == 0, done.output
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == ["cyclic-function-shared.yaml", "cyclic-function.yaml"]
    text = "".join(path.read_text() for path in written)
    assert PASSWORD not in text and "alice" not in text
    assert "STREAMGRAPH_KAFKA_SASL_PASSWORD" in text  # the Secret's key, by name
    assert "secretKeyRef" in text and "name: cyclic-function-kafka" in text
    assert "STREAMGRAPH_KAFKA_SSL_CAFILE: /etc/streamgraph/kafka/ca.pem" in text


def test_more_replicas_than_partitions_is_refused() -> None:
    argv = ["manifests", "topologies.cyclic", "--image", "i:1", "--brokers", "kafka:9092"]
    env = {"STREAMGRAPH_PARTITIONS": "6"}
    done = CliRunner().invoke(main, [*argv, "--max-replicas", "7"], env=env)
    assert done.exit_code == 1
    assert "--max-replicas 7 is more than the 6 partitions of each topic" in done.output
    assert "sits idle" in done.output
    fewer = manifests("topologies.cyclic", "--brokers", "kafka:9092", "--max-replicas", "3")
    assert {d["spec"]["maxReplicaCount"] for d in fewer if d["kind"] == "ScaledObject"} == {3}


def test_brokers_must_be_given() -> None:
    done = CliRunner().invoke(
        main,
        ["manifests", "topologies.cyclic", "--image", "i:1"],
        env={"STREAMGRAPH_BROKERS": None},
    )
    assert done.exit_code == 1
    assert "Pass --brokers or set STREAMGRAPH_BROKERS" in done.output


def test_hardened_pods() -> None:
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9092")
    for document in documents:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/streamgraph"} <= mounts
        assert container["resources"]["limits"]["memory"] == "256Mi"


def test_mutual_tls_mounts_the_secret_files_and_tells_keda() -> None:
    env = {
        "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STREAMGRAPH_KAFKA_SSL_CAFILE": "/home/me/ca.pem",
        "STREAMGRAPH_KAFKA_SSL_CERTFILE": "/home/me/user.crt",
        "STREAMGRAPH_KAFKA_SSL_KEYFILE": "/home/me/user.key",
    }
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9093", "--secret", "k", env=env)
    for document in documents:
        validate(document)
    [auth] = [d for d in documents if d["kind"] == "TriggerAuthentication"]
    refs = {(r["parameter"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {("ca", "ca.pem"), ("cert", "client.crt"), ("key", "client.key")}
    [scaled] = [d for d in documents if d["kind"] == "ScaledObject"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["metadata"]["tls"] == "enable" and trigger["metadata"]["sasl"] == "none"
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    [worker] = [
        d
        for d in documents
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "cyclic-function-worker"
    ]
    pod = worker["spec"]["template"]["spec"]
    [files] = [v for v in pod["volumes"] if v["name"] == "kafka-files"]
    assert files["secret"]["secretName"] == "k"
    [config] = [d["data"] for d in documents if d["kind"] == "ConfigMap"]
    assert config["STREAMGRAPH_KAFKA_SSL_KEYFILE"] == "/etc/streamgraph/kafka/client.key"


def test_oauthbearer_cannot_be_handed_to_keda() -> None:
    env = {
        "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMGRAPH_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER": "tokens:msk_token",
    }
    argv = ["manifests", "topologies.cyclic", "--image", "i:1", "--brokers", "kafka:9098"]
    done = CliRunner().invoke(main, argv, env=env)
    assert done.exit_code == 1 and "--no-keda" in done.output
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9098", "--no-keda", env=env)
    assert not {"ScaledObject", "TriggerAuthentication"} & set(kinds(documents))


def test_memory_can_be_asked_for() -> None:
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9092", "--memory", "1Gi:2Gi")
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            validate(document)
            [container] = document["spec"]["template"]["spec"]["containers"]
            assert container["resources"]["requests"]["memory"] == "1Gi"
            assert container["resources"]["limits"]["memory"] == "2Gi"
