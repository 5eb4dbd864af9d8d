"""The manifests run: generated for the test broker, their pods started as local processes the
way a kubelet would (local_kubelet.py says how a pod is mapped onto this machine), the topics
Job first, then every Deployment until its readiness probe passes; requests go through the
gateway's Service, and each ScaledObject's consumer group is one the workers joined."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from cli_support import expected_cyclic_answers, same_answer
from local_kubelet import (
    LocalPod,
    image_folder,
    of_kind,
    passes,
    read_manifests,
    start,
    stop,
    wait_completed,
    wait_ready,
)

import topologies.cyclic
from streamgraph.commands.demo import demo_requests
from streamgraph.connection.kafka_security import kafka_security
from streamgraph.settings import Settings

pytestmark = pytest.mark.kafka

SECRET_KEYS = ("STREAMGRAPH_KAFKA_SASL_USERNAME", "STREAMGRAPH_KAFKA_SASL_PASSWORD")
SECRET_FILES = {
    "STREAMGRAPH_KAFKA_SSL_CAFILE": "ca.pem",
    "STREAMGRAPH_KAFKA_SSL_CERTFILE": "client.crt",
    "STREAMGRAPH_KAFKA_SSL_KEYFILE": "client.key",
}


class Cluster:
    """One function's manifests, and the pods started from them."""

    def __init__(self, topology: str, brokers: str, tmp: Path) -> None:
        self.prefix = f"kl{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.folder = tmp / "manifests"
        env = {**os.environ, "STREAMGRAPH_TOPIC_PREFIX": self.prefix}
        argv = [sys.executable, "-m", "streamgraph.cli", "manifests", f"topologies.{topology}"]
        argv += ["--image", "local/streamgraph:test", "--brokers", brokers]
        argv += ["--out", str(self.folder)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        self.documents = read_manifests(self.folder)
        self.secrets = {self.secret_name(): self.secret()}
        self.pods: list[LocalPod] = []
        self.app = image_folder(tmp)
        (tmp / "logs").mkdir()

    def secret_name(self) -> str:
        names = {
            ref["secretKeyRef"]["name"]
            for d in of_kind(self.documents, "Deployment")
            for c in d["spec"]["template"]["spec"]["containers"]
            for ref in (e.get("valueFrom", {}) for e in c.get("env", []))
            if "secretKeyRef" in ref
        }
        return names.pop() if names else "unused"

    def secret(self) -> dict[str, str]:
        """The Secret an operator makes, from this run's own (possibly secured) settings."""
        data = {key: os.environ[key] for key in SECRET_KEYS if key in os.environ}
        for variable, key in SECRET_FILES.items():
            if variable in os.environ:
                data[key] = Path(os.environ[variable]).read_text()
        return data

    def pod(self, workload: dict[str, Any]) -> LocalPod:
        pod = LocalPod.of(workload, self.documents, self.secrets, self.tmp / "pods", self.app)
        self.pods.append(start(pod, self.tmp / "logs"))
        return pod

    def run(self) -> None:
        """The topics Job to completion, then every Deployment until ready."""
        [job] = of_kind(self.documents, "Job")
        pod = self.pod(job)
        assert wait_completed(pod, 60) == 0, pod.output()
        deployments = [self.pod(d) for d in of_kind(self.documents, "Deployment")]
        wait_ready(deployments, 90)
        for pod in deployments:  # alive too, or the kubelet would restart it
            url = pod.probe_url("livenessProbe")
            assert url is None or passes(url), f"{pod.name}: {url} fails\n{pod.output()}"

    def service_url(self) -> str:
        """The gateway's Service: its port, forwarded to the pod behind it (targetPort)."""
        [service] = of_kind(self.documents, "Service")
        [port] = service["spec"]["ports"]
        selector = service["spec"]["selector"]
        [pod] = [p for p in self.pods if selector.items() <= p.labels.items()]
        return f"http://127.0.0.1:{pod.ports[port['targetPort']]}"

    def pod_named(self, name: str) -> LocalPod:
        [pod] = [p for p in self.pods if p.name == name]
        return pod


@pytest.fixture
def cluster(request: pytest.FixtureRequest, kafka_broker: Any, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(request.param, kafka_broker.bootstrap_servers, tmp_path)
    try:
        yield made
    finally:
        stop(made.pods)


def post(url: str, body: Any) -> tuple[int, Any]:
    data = orjson.dumps(body)
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


async def joined_groups(brokers: str, prefix: str) -> dict[str, int]:
    """The consumer groups of this run's topic prefix on the broker, with their members."""
    settings = Settings(brokers=brokers)
    security = kafka_security(settings).aiokafka_args()
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers, **security)
    await admin.start()
    try:
        listed = [group for group, *_ in await admin.list_consumer_groups()]
        members: dict[str, int] = {}
        for one in (group for group in listed if group.startswith(prefix)):
            # one group a request: aiokafka 0.14 failed to decode ("Buffer underrun decoding
            # string") Kafka 4's DescribeGroups answer for the queue_child function's groups
            # asked together
            for response in await admin.describe_consumer_groups([one]):
                for group in response.groups:
                    group_id, group_members = group[1], group[5]
                    members[group_id] = len(group_members)
        return members
    finally:
        await admin.close()


def assert_scaled_groups_joined(cluster: Cluster, brokers: str) -> None:
    wanted = {
        trigger["metadata"]["consumerGroup"]
        for scaled in of_kind(cluster.documents, "ScaledObject")
        for trigger in scaled["spec"]["triggers"]
    }
    deadline = time.monotonic() + 30
    members = asyncio.run(joined_groups(brokers, cluster.prefix))
    while any(members.get(g, 0) == 0 for g in wanted) and time.monotonic() < deadline:
        time.sleep(1)
        members = asyncio.run(joined_groups(brokers, cluster.prefix))
    assert {g: members.get(g, 0) > 0 for g in wanted} == dict.fromkeys(wanted, True), members


@pytest.mark.parametrize("cluster", ["cyclic"], indirect=True)
def test_cyclic_function_runs_as_kubelet_would(cluster: Cluster, kafka_broker: Any) -> None:
    cluster.run()
    url = cluster.service_url()
    answers = []
    for request in demo_requests(topologies.cyclic):
        _status, answer = post(url + request.path, request.body)
        answers.append(same_answer(answer))
    assert answers == expected_cyclic_answers()
    assert_scaled_groups_joined(cluster, kafka_broker.bootstrap_servers)


@pytest.mark.parametrize("cluster", ["queue_child"], indirect=True)
def test_queue_child_function_runs_as_kubelet_would(cluster: Cluster, kafka_broker: Any) -> None:
    cluster.run()
    records = [{"int": i, "x2": i * i} for i in range(3)]
    status, answer = post(cluster.service_url() + "/", {"records": records})
    assert status == 200 and set(answer) == {"id"}, answer  # no responder: the event id
    child = cluster.pod_named("log-ds-worker")
    saved = child.folders["state"] / "examples" / "log-ds.jsonl"  # the child's emptyDir
    deadline = time.monotonic() + 30
    lines: list[bytes] = []
    while time.monotonic() < deadline and len(lines) < len(records):
        time.sleep(0.3)
        lines = saved.read_bytes().splitlines() if saved.exists() else []
    assert [orjson.loads(line) for line in lines] == [
        {**r, "extend": "something"} for r in records
    ], child.output()[-3000:]
    assert_scaled_groups_joined(cluster, kafka_broker.bootstrap_servers)
