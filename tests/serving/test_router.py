"""ModelRouter: every V2 endpoint, body routing at `/`, error statuses, routers inside flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

import streamgraph as sg
from streamgraph.serving.sklearn_server import SklearnModelServer
from streamgraph.serving.v2_server import V2ModelServer
from streamgraph.testing import serve

XI, YI = load_iris(return_X_y=True)
XD, YD = load_diabetes(return_X_y=True)


class Doubler(V2ModelServer):
    def predict(self, request: dict[str, Any]) -> Any:
        return [[2 * v for v in row] for row in request["inputs"]]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("models")
    tree = DecisionTreeClassifier(random_state=0).fit(XI, YI)
    linear = LinearRegression().fit(XD, YD)
    joblib.dump(tree, base / "tree.joblib")
    joblib.dump(linear, base / "linear.joblib")
    return {"tree": tree, "linear": linear, "dir": base}


@pytest.fixture
def server(models: dict[str, Any]) -> Any:
    fn = sg.new_function("router")
    fn.set_topology("router")
    base = models["dir"]
    fn.add_model("iris", class_name=SklearnModelServer, model_path=str(base / "tree.joblib"))
    fn.add_model("m3:v2", class_name=SklearnModelServer, model_path=str(base / "linear.joblib"))
    fn.add_model("dbl", class_name=Doubler)
    return fn.to_mock_server()


def test_served_predictions_equal_the_models(server: Any, models: dict[str, Any]) -> None:
    iris = server.test("/v2/models/iris/infer", {"inputs": XI[::10].tolist()})
    assert iris["outputs"] == models["tree"].predict(XI[::10]).tolist()
    reg = server.test("/v2/models/m3/versions/v2/infer", {"inputs": XD[:7].tolist()})
    assert reg["outputs"] == pytest.approx(models["linear"].predict(XD[:7]).tolist())
    assert reg["model_name"] == "m3" and reg["model_version"] == "v2"


def test_unversioned_path_reaches_the_only_version(server: Any) -> None:
    assert server.test("/v2/models/m3/infer", {"inputs": XD[:1].tolist()})["model_name"] == "m3"


def test_list_models(server: Any) -> None:
    assert server.test("/v2/models/", method="GET") == {"models": ["iris", "m3:v2", "dbl"]}
    assert server.test("/v2/models", method="GET") == {"models": ["iris", "m3:v2", "dbl"]}


def test_model_metadata(server: Any) -> None:
    meta = server.test("/v2/models/iris", method="GET")
    assert meta == {
        "name": "iris",
        "versions": [],
        "platform": "sklearn",
        "inputs": [],
        "outputs": [],
    }
    assert server.test("/v2/models/m3/versions/v2", method="GET")["versions"] == ["v2"]


def test_model_ready_health_and_server_metadata(server: Any) -> None:
    assert server.test("/v2/models/iris/ready", method="GET") == {"name": "iris", "ready": True}
    assert server.test("/v2/health/live", method="GET") == {"live": True}
    assert server.test("/v2/health/ready", method="GET") == {"ready": True}
    meta = server.test("/v2", method="GET")
    assert set(meta) == {"name", "version", "extensions"}
    assert isinstance(meta["extensions"], list)
    assert server.test("/", method="GET") == meta


def test_body_routing_at_root(server: Any, models: dict[str, Any]) -> None:
    # no model: the first route
    first = server.test("/", {"inputs": XI[:2].tolist()})
    assert first["model_name"] == "iris"
    versioned = server.test("/", {"model": "m3:v2", "inputs": XD[:2].tolist()})
    assert versioned["model_version"] == "v2"
    assert versioned["outputs"] == pytest.approx(models["linear"].predict(XD[:2]).tolist())
    ready = server.test("/", {"model": "dbl", "operation": "ready"}, method="GET")
    assert ready == {"name": "dbl", "ready": True}


def test_unknown_model_is_404_listing_models(server: Any) -> None:
    resp = server.test("/v2/models/nope/infer", {"inputs": [[1]]}, silent=True)
    assert resp.status_code == 404
    assert "nope" in resp.body["error"] and "iris | m3:v2 | dbl" in resp.body["error"]
    assert server.test("/", {"model": "nope", "inputs": []}, silent=True).status_code == 404
    assert (
        server.test("/v2/models/m3/versions/v9/infer", {"inputs": []}, silent=True).status_code
        == 404
    )


def test_unknown_operation_is_400(server: Any) -> None:
    resp = server.test("/v2/models/dbl/fly", {"inputs": [[1]]}, silent=True)
    assert resp.status_code == 400 and "fly" in resp.body["error"]


def test_unknown_path_is_404(server: Any) -> None:
    assert server.test("/v1/models/iris/infer", {"inputs": []}, silent=True).status_code == 404
    assert server.test("/v2/health/dead", method="GET", silent=True).status_code == 404


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v2/models/iris/infer", "GET"),
        ("/v2/models/iris/explain", "GET"),
        ("/v2/models/iris/ready", "POST"),
        ("/v2/models/", "POST"),
        ("/v2/health/live", "POST"),
        ("/v2", "POST"),
    ],
)
def test_wrong_method_is_405(server: Any, path: str, method: str) -> None:
    body = {"inputs": [[1, 2, 3, 4]]} if method == "POST" else None
    resp = server.test(path, body, method=method, silent=True)
    assert resp.status_code == 405 and "error" in resp.body


def test_post_on_model_url_infers(server: Any) -> None:
    assert server.test("/v2/models/dbl", {"inputs": [[1]]})["outputs"] == [[2]]


def test_tensor_request_through_router(server: Any, models: dict[str, Any]) -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": XI[:2].tolist()}]}
    out = server.test("/v2/models/iris/infer", body)["outputs"][0]
    assert out["shape"] == [2] and out["datatype"] == "INT64"
    assert out["data"] == models["tree"].predict(XI[:2].astype("float32")).tolist()


def _flow_with_router(router_class: str) -> Any:
    fn = sg.new_function("flow-router")
    graph = fn.set_topology("flow")
    graph.to(router_class, name="r1", input_path="req", result_path="resp").respond()
    fn.add_model("dbl", class_name=Doubler)
    return fn.to_mock_server()


def test_router_inside_flow_applies_input_and_result_paths() -> None:
    server = _flow_with_router("*ModelRouter")
    resp = server.test("/v2/models/dbl/infer", {"req": {"inputs": [[3]]}, "other": 1})
    assert resp["other"] == 1 and resp["resp"]["outputs"] == [[6]]


def test_bare_star_router_inside_flow_defaults_to_model_router() -> None:
    server = _flow_with_router("*")
    resp = server.test("/v2/models/dbl/infer", {"req": {"inputs": [[3]]}})
    assert resp["resp"]["outputs"] == [[6]]


class LabelledRouter(sg.ModelRouter):
    """A user's router: its own constructor argument shows the instance given is the one used."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label

    def server_metadata(self) -> dict[str, Any]:
        return {**super().server_metadata(), "label": self.label}


@pytest.mark.parametrize(
    "make_router",
    [sg.ModelRouter, lambda: LabelledRouter("mine")],
    ids=["ModelRouter", "subclass"],
)
def test_a_router_instance_gets_the_models_added_after_it(
    make_router: Callable[[], Any], models: dict[str, Any], engine: str
) -> None:
    router = make_router()  # a fresh instance per engine: nothing left from another run
    fn = sg.new_function("router-instance")
    fn.set_topology("router", router)
    fn.add_model(
        "iris", class_name=SklearnModelServer, model_path=str(models["dir"] / "tree.joblib")
    )
    fn.add_model("dbl", class_name=Doubler)
    server = serve(fn, engine=engine)
    iris = server.test("/v2/models/iris/infer", {"inputs": XI[::10].tolist()})
    assert iris["outputs"] == models["tree"].predict(XI[::10]).tolist()
    assert server.test("/v2/models/dbl/infer", {"inputs": [[4]]})["outputs"] == [[8]]
    assert server.test("/v2/models/", method="GET") == {"models": ["iris", "dbl"]}
    meta = server.test("/", method="GET")
    assert meta["name"] == type(router).__name__
    assert meta.get("label") == getattr(router, "label", None)
