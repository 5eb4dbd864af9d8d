"""`import_function("hub://v2_model_server")` and the scikit-learn server's model_path schemes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from streamgraph.errors import GraphError
from streamgraph.function import ServingFunction
from streamgraph.graph.declared_steps import RouterStep
from streamgraph.hub import import_function
from streamgraph.serving.sklearn_server import SklearnModelServer

X, Y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def model() -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=0).fit(X, Y)


def serve_path(model_path: str) -> Any:
    fn = import_function("hub://v2_model_server")
    fn.add_model("iris", model_path=model_path)
    return fn.to_mock_server()


def check(server: Any, model: DecisionTreeClassifier) -> None:
    resp = server.test("/v2/models/iris/infer", {"inputs": X[::5].tolist()})
    assert resp["outputs"] == model.predict(X[::5]).tolist()


def test_hub_function_is_a_router_with_sklearn_default() -> None:
    fn = import_function("hub://v2_model_server")
    assert isinstance(fn, ServingFunction)
    assert isinstance(fn.spec.graph, RouterStep)
    assert fn.spec.default_class == "streamgraph.serving.sklearn_server.SklearnModelServer"
    assert import_function("hub://v2_model_server:latest", new_name="mine").name == "mine"


def test_local_joblib_file(tmp_path: Path, model: DecisionTreeClassifier) -> None:
    joblib.dump(model, tmp_path / "m.joblib")
    check(serve_path(str(tmp_path / "m.joblib")), model)


def test_file_url_to_directory_with_pickle(tmp_path: Path, model: DecisionTreeClassifier) -> None:
    with (tmp_path / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    (tmp_path / "README.txt").write_text("not a model")
    check(serve_path(f"file://{tmp_path}"), model)


def test_directory_with_two_models_is_ambiguous(
    tmp_path: Path, model: DecisionTreeClassifier
) -> None:
    joblib.dump(model, tmp_path / "a.joblib")
    joblib.dump(model, tmp_path / "b.joblib")
    with pytest.raises(GraphError, match=r"exactly one model file.*a\.joblib, b\.joblib"):
        serve_path(str(tmp_path))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="no such file"):
        serve_path(str(tmp_path / "nothing.joblib"))


@pytest.mark.parametrize(
    "url", ["store://models/p/iris", "s3://bucket/m.joblib", "https://x.io/m.pkl", "gs://b/m"]
)
def test_unsupported_schemes_say_what_is_supported(url: str) -> None:
    scheme = url.split("://")[0]
    with pytest.raises(GraphError, match=f"{scheme}:// scheme is not supported.*file://"):
        serve_path(url)


def test_unknown_hub_name_lists_available() -> None:
    with pytest.raises(GraphError, match="hub://v2_model_server"):
        import_function("hub://no_such_fn")
    with pytest.raises(GraphError, match="only hub://"):
        import_function("db://proj/fn")


def test_async_load_from_hub(tmp_path: Path, model: DecisionTreeClassifier) -> None:
    joblib.dump(model, tmp_path / "m.joblib")
    fn = import_function("hub://v2_model_server")
    fn.add_model("iris", model_path=str(tmp_path / "m.joblib"), load_mode="async")
    server = fn.to_mock_server()
    route = server.plan.objects[0].routes["iris"]
    assert isinstance(route, SklearnModelServer)
    assert route.wait_ready(10)
    check(server, model)
