"""V2ModelServer: request forms, tensor outputs, hooks, parameters, loading and errors."""

from __future__ import annotations

import threading
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import streamgraph as sg
from streamgraph.errors import ConflictError
from streamgraph.serving.sklearn_server import SklearnModelServer
from streamgraph.serving.v2_server import V2ModelServer

X, Y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def iris_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, LogisticRegression]:
    model = LogisticRegression(max_iter=500).fit(X, Y)
    path = tmp_path_factory.mktemp("iris") / "model.joblib"
    joblib.dump(model, path)
    return str(path), model


class Adder(V2ModelServer):
    """Sums each row; `offset` comes from class args or request parameters."""

    def load(self) -> None:
        self.model = "loaded"

    def predict(self, request: dict[str, Any]) -> Any:
        offset = self.get_param("offset", 0)
        return [sum(row) + offset for row in request["inputs"]]

    def op_echo(self, event: sg.Event) -> Any:
        return {"echo": event.body, "path": event.path}


class Hooks(Adder):
    def preprocess(self, request: dict[str, Any], operation: str) -> dict[str, Any]:
        return {**request, "inputs": [[v * 10 for v in row] for row in request["inputs"]]}

    def postprocess(self, response: dict[str, Any]) -> dict[str, Any]:
        response["post"] = True
        return response

    def explain(self, request: dict[str, Any]) -> Any:
        return {"why": len(request["inputs"])}


class Failing(V2ModelServer):
    def predict(self, request: dict[str, Any]) -> Any:
        if request.get("conflict"):
            raise ConflictError("already there")
        raise ZeroDivisionError("boom")


def router(**models: Any) -> Any:
    fn = sg.new_function("v2")
    fn.set_topology("router")
    for key, (cls, args) in models.items():
        fn.add_model(key.replace("__", ":"), class_name=cls, **args)
    return fn.to_mock_server()


def test_mlrun_form_with_real_model(iris_path: tuple[str, LogisticRegression]) -> None:
    path, model = iris_path
    server = router(iris=(SklearnModelServer, {"model_path": path}))
    resp = server.test("/v2/models/iris/infer", {"id": "r1", "inputs": X[:5].tolist()})
    assert resp == {"id": "r1", "model_name": "iris", "outputs": model.predict(X[:5]).tolist()}


def test_oip_tensor_form_returns_tensors(iris_path: tuple[str, LogisticRegression]) -> None:
    path, model = iris_path
    server = router(iris=(SklearnModelServer, {"model_path": path}))
    body = {
        "inputs": [
            {"name": "x", "shape": [3, 4], "datatype": "FP64", "data": X[:3].ravel().tolist()}
        ],
        "outputs": [{"name": "label"}],
    }
    resp = server.test("/v2/models/iris/infer", body)
    assert resp["outputs"] == [
        {
            "name": "label",
            "shape": [3],
            "datatype": "INT64",
            "data": model.predict(X[:3]).tolist(),
        }
    ]
    assert isinstance(resp["id"], str) and resp["id"]


def test_event_id_comes_back_when_request_has_none() -> None:
    server = router(m=(Adder, {}))
    resp = server.test("/v2/models/m/infer", {"inputs": [[1, 2]]}, event_id="ev-7")
    assert resp["id"] == "ev-7"


def test_versioned_key_answers_with_name_and_version() -> None:
    server = router(m3__v2=(Adder, {}))
    resp = server.test("/v2/models/m3/versions/v2/infer", {"inputs": [[1, 2]]})
    assert resp["model_name"] == "m3" and resp["model_version"] == "v2"
    meta = server.test("/v2/models/m3/versions/v2", method="GET")
    assert meta["name"] == "m3" and meta["versions"] == ["v2"]


def test_unversioned_model_has_no_model_version() -> None:
    resp = router(m=(Adder, {})).test("/v2/models/m/infer", {"inputs": [[1]]})
    assert "model_version" not in resp


def test_get_param_reads_class_args_then_request_parameters() -> None:
    server = router(m=(Adder, {"offset": 100}))
    assert server.test("/v2/models/m/infer", {"inputs": [[1]]})["outputs"] == [101]
    body = {"inputs": [[1]], "parameters": {"offset": 5}}
    assert server.test("/v2/models/m/infer", body)["outputs"] == [6]
    # the request's parameters do not leak into the next request
    assert server.test("/v2/models/m/infer", {"inputs": [[1]]})["outputs"] == [101]


def test_predict_proba_parameter(iris_path: tuple[str, LogisticRegression]) -> None:
    path, model = iris_path
    server = router(iris=(SklearnModelServer, {"model_path": path}))
    body = {"inputs": X[:2].tolist(), "parameters": {"proba": True}}
    outputs = server.test("/v2/models/iris/infer", body)["outputs"]
    np.testing.assert_allclose(outputs, model.predict_proba(X[:2]))


def test_hooks_explain_and_custom_op() -> None:
    server = router(h=(Hooks, {}))
    resp = server.test("/v2/models/h/infer", {"inputs": [[1, 2]]})
    assert resp["outputs"] == [30] and resp["post"] is True
    assert server.test("/v2/models/h/explain", {"inputs": [[1], [2]]})["outputs"] == {"why": 2}
    assert server.test("/v2/models/h/echo", {"a": 1}) == {
        "echo": {"a": 1},
        "path": "/v2/models/h/echo",
    }


def test_body_routing_picks_the_operation() -> None:
    server = router(a=(Adder, {}), h=(Hooks, {}))
    resp = server.test("/", {"model": "h", "operation": "explain", "inputs": [[1]]})
    assert resp["model_name"] == "h" and resp["outputs"] == {"why": 1}


def test_model_object_given_up_front_skips_load() -> None:
    class NoLoad(Adder):
        def load(self) -> None:
            raise AssertionError("load must not run when a model object is given")

    server = router(n=(NoLoad, {"model": object()}))
    assert server.test("/v2/models/n/infer", {"inputs": [[4]]})["outputs"] == [4]


def test_explain_not_implemented_is_501() -> None:
    resp = router(m=(Adder, {})).test("/v2/models/m/explain", {"inputs": [[1]]}, silent=True)
    assert resp.status_code == 501 and "explain" in resp.body["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "x"}, "inputs"),
        ({"inputs": 5}, "inputs"),
        ({"inputs": [{"name": "a", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}, "shape"),
        ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP99", "data": [1]}]}, "datatype"),
    ],
)
def test_bad_requests_are_400_naming_the_field(body: dict[str, Any], field: str) -> None:
    resp = router(m=(Adder, {})).test("/v2/models/m/infer", body, silent=True)
    assert resp.status_code == 400
    assert field in resp.body["error"]


def test_exception_in_predict_is_400_with_class_and_message() -> None:
    resp = router(f=(Failing, {})).test("/v2/models/f/infer", {"inputs": [[1]]}, silent=True)
    assert resp.status_code == 400
    assert resp.body == {"error": "ZeroDivisionError: boom"}


def test_exception_with_own_status_code_keeps_it() -> None:
    server = router(f=(Failing, {}))
    resp = server.test("/v2/models/f/infer", {"inputs": [[1]], "conflict": True}, silent=True)
    assert resp.status_code == 409 and "already there" in resp.body["error"]


class SlowLoad(Adder):
    gate = threading.Event()

    def load(self) -> None:
        if not self.gate.wait(10):
            raise TimeoutError("gate never opened")
        self.model = "loaded"


class BrokenLoad(Adder):
    def load(self) -> None:
        raise OSError("disk gone")


def test_async_load_answers_503_until_ready() -> None:
    SlowLoad.gate.clear()
    server = router(s=(SlowLoad, {"load_mode": "async"}))
    resp = server.test("/v2/models/s/ready", method="GET", silent=True)
    assert resp.status_code == 503 and "not ready" in resp.body["error"]
    assert server.test("/v2/models/s/infer", {"inputs": [[1]]}, silent=True).status_code == 503
    assert server.test("/v2/health/ready", method="GET", silent=True).status_code == 503
    SlowLoad.gate.set()
    model = server.plan.objects[0].routes["s"]
    assert model.wait_ready(10)
    assert server.test("/v2/models/s/ready", method="GET") == {"name": "s", "ready": True}
    assert server.test("/v2/models/s/infer", {"inputs": [[1]]})["outputs"] == [1]


def test_async_load_failure_is_503_with_the_cause() -> None:
    server = router(b=(BrokenLoad, {"load_mode": "async"}))
    assert server.plan.objects[0].routes["b"].wait_ready(10) is False
    resp = server.test("/v2/models/b/infer", {"inputs": [[1]]}, silent=True)
    assert resp.status_code == 503 and "OSError: disk gone" in resp.body["error"]


def test_sync_load_failure_fails_the_build() -> None:
    with pytest.raises(OSError, match="disk gone"):
        router(b=(BrokenLoad, {}))


def test_model_server_as_plain_flow_step() -> None:
    fn = sg.new_function("plain")
    graph = fn.set_topology("flow")
    graph.to(Adder, name="adder", offset=1).respond()
    server = fn.to_mock_server()
    resp = server.test("/", {"inputs": [[1, 2]]})
    assert resp["model_name"] == "adder" and resp["outputs"] == [4]
    assert server.test("/", method="GET")["name"] == "adder"
    assert server.test("/echo", {"z": 1})["echo"] == {"z": 1}


def test_model_server_step_with_input_and_result_paths() -> None:
    fn = sg.new_function("paths")
    graph = fn.set_topology("flow")
    graph.to(Adder, name="adder", input_path="req", result_path="resp").respond()
    resp = fn.to_mock_server().test("/", {"req": {"inputs": [[2, 3]]}, "keep": 1})
    assert resp["keep"] == 1 and resp["resp"]["outputs"] == [5]


def test_binary_outputs_when_asked_as_tritonclient_does(
    iris_path: tuple[str, LogisticRegression],
) -> None:
    """tritonclient's defaults: binary inputs in, binary outputs back, the JSON length on the
    event's headers (an HTTP front sends it as Inference-Header-Content-Length)."""
    import tritonclient.http as triton

    path, model = iris_path
    server = SklearnModelServer(name="iris", model_path=path)
    server.post_init()
    rows = X[:4].astype(np.float32)
    tensor = triton.InferInput("x", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    body, json_length = triton.InferenceServerClient.generate_request_body([tensor])
    event = sg.Event(body, path="/v2/models/iris/infer", method="POST")
    event.headers = {"Inference-Header-Content-Length": str(json_length)}
    answer = server.do_event(event)
    assert isinstance(answer, bytes)
    assert list(event.headers) == ["inference-header-content-length"]  # the request's is gone
    length = int(event.headers["inference-header-content-length"])
    assert length < len(answer)
    result = triton.InferResult.from_response_body(answer, header_length=length)
    np.testing.assert_array_equal(result.as_numpy("output0"), model.predict(rows))
    # a binary request that asks for JSON outputs gets JSON, and no length header
    wanted = triton.InferRequestedOutput("output0", binary_data=False)
    body, json_length = triton.InferenceServerClient.generate_request_body([tensor], [wanted])
    event = sg.Event(body, path="/v2/models/iris/infer", method="POST")
    event.headers = {"Inference-Header-Content-Length": str(json_length)}
    answer = server.do_event(event)
    assert answer["outputs"][0]["data"] == model.predict(rows).tolist()
    assert event.headers == {}
