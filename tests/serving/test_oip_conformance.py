"""Conformance of the V2 endpoints with the Open Inference Protocol REST spec.

Written against a `server` with the mock server's interface (`test(path, body, method, silent)`),
so the HTTP gateway can reuse these checks with its own fixture. Spec: /work/shared/OIP.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

import streamgraph as sg
from streamgraph.serving.v2_server import V2ModelServer
from streamgraph.testing import serve

DATATYPES = {
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
}  # fmt: skip


class Scale(V2ModelServer):
    """Multiplies its one input tensor (or MLRun rows) by 2."""

    def load(self) -> None:
        self.metadata_inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
        self.metadata_outputs = [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]

    def predict(self, request: dict[str, Any]) -> Any:
        inputs = request["inputs"]
        return inputs[0] * 2 if request.get("input_names") else [[2 * v for v in r] for r in inputs]


@pytest.fixture
def server(engine: str) -> Any:
    fn = sg.new_function("oip")
    fn.set_topology("router")
    fn.add_model("scale", class_name=Scale)
    fn.add_model("scale:3", class_name=Scale)
    return serve(fn, engine=engine)


def tensor_request(**extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        **extra,
    }


def assert_error(resp: Any, status: int) -> None:
    assert resp.status_code == status
    assert isinstance(resp.body, dict) and set(resp.body) == {"error"}
    assert isinstance(resp.body["error"], str) and resp.body["error"]


def test_server_live(server: Any) -> None:
    assert server.test("/v2/health/live", method="GET") == {"live": True}


def test_server_ready(server: Any) -> None:
    assert server.test("/v2/health/ready", method="GET", get_body=False).status_code == 200


def test_server_metadata(server: Any) -> None:
    meta = server.test("/v2", method="GET")
    assert isinstance(meta["name"], str) and isinstance(meta["version"], str)
    assert isinstance(meta["extensions"], list)
    assert all(isinstance(e, str) for e in meta["extensions"])


@pytest.mark.parametrize("path", ["/v2/models/scale", "/v2/models/scale/versions/3"])
def test_model_metadata(server: Any, path: str) -> None:
    meta = server.test(path, method="GET")
    assert meta["name"] == "scale"
    assert isinstance(meta["platform"], str)
    assert isinstance(meta.get("versions", []), list)
    for tensor in meta["inputs"] + meta["outputs"]:
        assert set(tensor) >= {"name", "datatype", "shape"}
        assert tensor["datatype"] in DATATYPES


@pytest.mark.parametrize("path", ["/v2/models/scale/ready", "/v2/models/scale/versions/3/ready"])
def test_model_ready(server: Any, path: str) -> None:
    assert server.test(path, method="GET") == {"name": "scale", "ready": True}


def test_inference_echoes_id_and_returns_tensors(server: Any) -> None:
    resp = server.test("/v2/models/scale/infer", tensor_request(id="req-42"))
    assert resp["id"] == "req-42" and resp["model_name"] == "scale"
    assert "model_version" not in resp  # not versioned: no model_version
    [out] = resp["outputs"]
    assert set(out) >= {"name", "shape", "datatype", "data"}
    assert out["shape"] == [2, 2] and out["datatype"] == "FP32"
    assert out["data"] == [2, 4, 6, 8]  # flat row-major


def test_inference_with_version_returns_model_version(server: Any) -> None:
    resp = server.test("/v2/models/scale/versions/3/infer", tensor_request())
    assert resp["model_name"] == "scale" and resp["model_version"] == "3"


def test_binary_tensor_input_is_accepted(server: Any) -> None:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32",
                     "parameters": {"binary_data_size": 8}}]}
    )  # fmt: skip
    body = header + np.array([1.5, 2.5], dtype="<f4").tobytes()
    headers = {"Inference-Header-Content-Length": str(len(header))}
    resp = server.test("/v2/models/scale/infer", body, method="POST", headers=headers)
    assert resp["outputs"][0]["data"] == [3.0, 5.0]
    bad = server.test("/v2/models/scale/infer", body, method="POST", silent=True)
    assert_error(bad, 400)


def test_inference_nested_data_and_requested_output_name(server: Any) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}],
        "outputs": [{"name": "y"}],
    }
    [out] = server.test("/v2/models/scale/infer", body)["outputs"]
    assert out["name"] == "y" and out["data"] == [2, 4, 6, 8]


@pytest.mark.parametrize(
    "tensor",
    [
        {"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]},
        {"name": "x", "shape": [2], "datatype": "FLOAT", "data": [1, 2]},
        {"name": "x", "shape": [2], "datatype": "FP32"},
    ],
)
def test_bad_inference_request_is_400_error_object(server: Any, tensor: dict[str, Any]) -> None:
    assert_error(server.test("/v2/models/scale/infer", {"inputs": [tensor]}, silent=True), 400)


def test_missing_inputs_is_400(server: Any) -> None:
    assert_error(server.test("/v2/models/scale/infer", {"id": "x"}, silent=True), 400)


def test_unknown_model_is_error_object(server: Any) -> None:
    assert_error(server.test("/v2/models/ghost/infer", tensor_request(), silent=True), 404)
    assert_error(server.test("/v2/models/ghost", method="GET", silent=True), 404)
    assert_error(server.test("/v2/models/ghost/ready", method="GET", silent=True), 404)


def test_wrong_method_is_405_error_object(server: Any) -> None:
    assert_error(server.test("/v2/models/scale/infer", method="GET", silent=True), 405)
    assert_error(server.test("/v2/models/scale/ready", {"x": 1}, silent=True), 405)
