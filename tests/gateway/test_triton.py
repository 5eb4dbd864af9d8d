"""Triton's own HTTP client, with its defaults, through the gateway to a model server on Kafka.

`tritonclient.http` sends tensors with the binary data extension and asks for binary outputs:
the binary body travels through Kafka as raw bytes with its `Inference-Header-Content-Length`,
and the binary answer comes back with its header and bytes intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import tritonclient.http as triton
from gateway_live import LiveGateway
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import streamgraph as sg
from streamgraph.gateway import gateway_app
from streamgraph.testing import serve

pytestmark = pytest.mark.kafka

X, Y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(X, Y)


@pytest.fixture
def gateway(kafka_broker: Any, tmp_path: Path, model: LogisticRegression) -> Iterator[LiveGateway]:
    joblib.dump(model, tmp_path / "iris.joblib")
    fn = sg.import_function("hub://v2_model_server", new_name="triton-iris")
    fn.add_model("iris", model_path=str(tmp_path / "iris.joblib"))
    server = serve(fn, engine="kafka", brokers=kafka_broker.bootstrap_servers)
    try:
        with LiveGateway(gateway_app(fn.name, server.settings)) as live:
            yield live
    finally:
        server.close()


def test_health_and_metadata(gateway: LiveGateway) -> None:
    client = triton.InferenceServerClient(gateway.url)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("iris")
        assert not client.is_model_ready("nosuch")
        server = client.get_server_metadata()
        assert server["version"] == "v2"
        metadata = client.get_model_metadata("iris")
        assert metadata["name"] == "iris"
        assert metadata["platform"] == "sklearn"
    finally:
        client.close()


@pytest.mark.parametrize("binary_input", [True, False])
def test_infer_with_client_defaults_matches_sklearn(
    gateway: LiveGateway, model: LogisticRegression, binary_input: bool
) -> None:
    rows = X[::7].astype(np.float32)
    tensor = triton.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary_input)
    client = triton.InferenceServerClient(gateway.url)
    try:
        result = client.infer("iris", [tensor])  # outputs=None: every output comes back binary
        response = result.get_response()
        [output] = response["outputs"]
        assert output["parameters"]["binary_data_size"] > 0  # it really came back binary
        labels = result.as_numpy(output["name"])
        assert labels is not None
        np.testing.assert_array_equal(labels, model.predict(rows))
    finally:
        client.close()


def test_requested_json_output_and_errors(gateway: LiveGateway, model: LogisticRegression) -> None:
    rows = X[:3].astype(np.float32)
    tensor = triton.InferInput("features", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    wanted = triton.InferRequestedOutput("label", binary_data=False)
    client = triton.InferenceServerClient(gateway.url)
    try:
        result = client.infer("iris", [tensor], outputs=[wanted])
        [output] = result.get_response()["outputs"]
        assert output["name"] == "label" and output["data"] == model.predict(rows).tolist()
        bad = triton.InferInput("features", [1, 3], "FP32")
        bad.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
        with pytest.raises(triton.InferenceServerException) as failed:
            client.infer("iris", [bad])
        assert failed.value.status() == "400"
        assert "features" in str(failed.value.message())
    finally:
        client.close()
