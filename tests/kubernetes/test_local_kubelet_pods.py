"""local_kubelet.py's mapping of a pod onto this machine, without running it: the Secret's keys
and files, the ConfigMap, the ports and the emptyDirs (test_local_kubelet.py runs the pods)."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_kubelet import LocalPod, of_kind
from test_manifests import SECURED, manifests

SECRET = {
    "STREAMGRAPH_KAFKA_SASL_USERNAME": "alice",
    "STREAMGRAPH_KAFKA_SASL_PASSWORD": "s3cret",
    "ca.pem": "-----BEGIN CERTIFICATE-----\n",
}


def secured_worker(tmp_path: Path, secret: dict[str, str]) -> LocalPod:
    documents = manifests("topologies.cyclic", "--brokers", "kafka:9092", env=SECURED)
    [worker, _gateway] = of_kind(documents, "Deployment")
    app = tmp_path / "app"
    app.mkdir()
    return LocalPod.of(worker, documents, {"cyclic-function-kafka": secret}, tmp_path, app)


def test_a_secured_worker_pod(tmp_path: Path) -> None:
    pod = secured_worker(tmp_path, SECRET)
    assert pod.env["STREAMGRAPH_KAFKA_SASL_PASSWORD"] == "s3cret"  # secretKeyRef
    assert pod.env["STREAMGRAPH_BROKERS"] == "kafka:9092"  # the ConfigMap, by envFrom
    cafile = Path(pod.env["STREAMGRAPH_KAFKA_SSL_CAFILE"])  # the Secret volume's file
    assert cafile.read_text() == SECRET["ca.pem"] and cafile.is_relative_to(tmp_path)
    state = Path(pod.env["STREAMGRAPH_STATE_DIR"])  # the emptyDir
    assert state == pod.folders["state"] and pod.env["TMPDIR"] == str(pod.folders["tmp"])
    web, metrics = pod.ports["web"], pod.ports["metrics"]
    assert {"8081", "9108", "0.0.0.0"}.isdisjoint(pod.argv)
    assert pod.argv[pod.argv.index("--web-port") + 1] == str(web)
    assert pod.argv[pod.argv.index("--metrics-port") + 1] == str(metrics)
    assert pod.probe_url() == f"http://127.0.0.1:{web}/"
    assert pod.probe_url("livenessProbe") == f"http://127.0.0.1:{metrics}/metrics"


def test_a_missing_secret_key_keeps_the_pod_from_starting(tmp_path: Path) -> None:
    secret = {k: v for k, v in SECRET.items() if k != "STREAMGRAPH_KAFKA_SASL_PASSWORD"}
    with pytest.raises(AssertionError, match="no key STREAMGRAPH_KAFKA_SASL_PASSWORD"):
        secured_worker(tmp_path, secret)
