"""VotingEnsemble: classification and regression votes, weights, routing to single models."""

from __future__ import annotations

import json
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import streamgraph as sg
from streamgraph.serving.sklearn_server import SklearnModelServer
from streamgraph.testing import serve

XI, YI = load_iris(return_X_y=True)
XD, YD = load_diabetes(return_X_y=True)


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("cls")
    fitted = {
        # a shallow tree disagrees with the others on some rows, so weights matter
        "tree": DecisionTreeClassifier(max_depth=1, random_state=0).fit(XI, YI),
        "logreg": LogisticRegression(max_iter=500).fit(XI, YI),
        "knn": KNeighborsClassifier(n_neighbors=15).fit(XI, YI),
    }
    for key, model in fitted.items():
        joblib.dump(model, base / f"{key}.joblib")
    return {"models": fitted, "dir": base}


@pytest.fixture(scope="module")
def regressors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("reg")
    fitted = {
        "linear": LinearRegression().fit(XD, YD),
        "ridge": Ridge(alpha=1.0).fit(XD, YD),
        "dtree": DecisionTreeRegressor(max_depth=3, random_state=0).fit(XD, YD),
    }
    for key, model in fitted.items():
        joblib.dump(model, base / f"{key}.joblib")
    return {"models": fitted, "dir": base}


def ensemble(found: dict[str, Any], **args: Any) -> Any:
    fn = sg.new_function("ensemble")
    fn.set_topology("router", "VotingEnsemble", **args)
    for key in found["models"]:
        fn.add_model(
            key, class_name=SklearnModelServer, model_path=str(found["dir"] / f"{key}.joblib")
        )
    return fn.to_mock_server()


def majority(preds: list[np.ndarray], weights: list[float]) -> list[int]:
    out = []
    for row in np.stack(preds).T:
        scores: dict[int, float] = {}
        for w, label in zip(weights, row, strict=True):
            scores[int(label)] = scores.get(int(label), 0.0) + w
        best = max(scores.values())
        out.append(min(k for k, v in scores.items() if v == best))
    return out


def test_classification_vote_is_the_majority(classifiers: dict[str, Any]) -> None:
    server = ensemble(classifiers, vote_type="classification")
    resp = server.test("/v2/models/VotingEnsemble/infer", {"id": "e1", "inputs": XI.tolist()})
    preds = [m.predict(XI) for m in classifiers["models"].values()]
    assert resp["id"] == "e1" and resp["model_name"] == "VotingEnsemble"
    assert resp["outputs"] == majority(preds, [1, 1, 1])


def test_weights_change_the_classification_vote(classifiers: dict[str, Any]) -> None:
    weights = {"tree": 0.8, "logreg": 0.1, "knn": 0.1}
    server = ensemble(classifiers, vote_type="classification", weights=weights)
    resp = server.test("/v2/models/VotingEnsemble/infer", {"inputs": XI.tolist()})
    # the heavy shallow tree wins every row
    assert resp["outputs"] == classifiers["models"]["tree"].predict(XI).tolist()


def test_auto_vote_type_detects_classification(classifiers: dict[str, Any]) -> None:
    resp = ensemble(classifiers).test("/", {"inputs": XI[::7].tolist()})
    preds = [m.predict(XI[::7]) for m in classifiers["models"].values()]
    assert resp["outputs"] == majority(preds, [1, 1, 1])


def test_regression_vote_is_the_weighted_mean(regressors: dict[str, Any]) -> None:
    weights = {"linear": 2.0, "ridge": 1.0, "dtree": 1.0}
    server = ensemble(regressors, weights=weights)  # auto-detected: float predictions
    resp = server.test("/v2/models/VotingEnsemble/infer", {"inputs": XD[:20].tolist()})
    preds = {k: m.predict(XD[:20]) for k, m in regressors["models"].items()}
    expected = (2 * preds["linear"] + preds["ridge"] + preds["dtree"]) / 4
    np.testing.assert_allclose(resp["outputs"], expected)


def test_single_models_stay_reachable(regressors: dict[str, Any]) -> None:
    server = ensemble(regressors, vote_type="regression")
    resp = server.test("/v2/models/ridge/infer", {"inputs": XD[:3].tolist()})
    np.testing.assert_allclose(resp["outputs"], regressors["models"]["ridge"].predict(XD[:3]))
    listed = server.test("/v2/models/", method="GET")
    assert listed["models"] == ["linear", "ridge", "dtree", "VotingEnsemble"]


def test_named_ensemble_with_column_format(classifiers: dict[str, Any]) -> None:
    server = ensemble(
        classifiers,
        name="iris-vote",
        format_response_with_col_name_flag=True,
        prediction_col_name="label",
    )
    resp = server.test("/v2/models/iris-vote/infer", {"inputs": XI[:3].tolist()})
    assert list(resp["outputs"]) == ["label"] and len(resp["outputs"]["label"]) == 3
    assert server.test("/v2/models/iris-vote/ready", method="GET")["ready"] is True
    meta = server.test("/v2/models/iris-vote", method="GET")
    assert meta["name"] == "iris-vote"


def test_tensor_request_votes_to_a_tensor(classifiers: dict[str, Any]) -> None:
    body = {
        "inputs": [
            {"name": "x", "shape": [4, 4], "datatype": "FP64", "data": XI[:4].ravel().tolist()}
        ]
    }
    out = ensemble(classifiers).test("/v2/models/VotingEnsemble/infer", body)["outputs"]
    preds = [m.predict(XI[:4]) for m in classifiers["models"].values()]
    assert out[0]["shape"] == [4] and out[0]["data"] == majority(preds, [1, 1, 1])


def test_unknown_model_mentions_the_ensemble(classifiers: dict[str, Any]) -> None:
    resp = ensemble(classifiers).test("/v2/models/zzz/infer", {"inputs": []}, silent=True)
    assert resp.status_code == 404 and "VotingEnsemble" in resp.body["error"]


def test_bad_weights_fail_the_build(classifiers: dict[str, Any]) -> None:
    with pytest.raises(sg.GraphError, match="unknown models"):
        ensemble(classifiers, weights={"ghost": 1.0})


def _ensemble_instance(found: dict[str, Any], ensemble: sg.VotingEnsemble) -> sg.ServingFunction:
    """MLRun's documented order: the router instance first, then add_model() calls."""
    fn = sg.new_function("ensemble-instance")
    fn.set_topology("router", ensemble)
    for key in found["models"]:
        fn.add_model(
            key, class_name=SklearnModelServer, model_path=str(found["dir"] / f"{key}.joblib")
        )
    return fn


def test_an_ensemble_instance_gets_the_models_added_after_it(
    classifiers: dict[str, Any], engine: str
) -> None:
    weights = {"tree": 0.8, "logreg": 0.1, "knn": 0.1}
    voting = sg.VotingEnsemble(vote_type="classification", weights=weights)
    server = serve(_ensemble_instance(classifiers, voting), engine=engine)
    single = server.test("/v2/models/logreg/infer", {"inputs": XI[:5].tolist()})
    assert single["outputs"] == classifiers["models"]["logreg"].predict(XI[:5]).tolist()
    # the weights name models added after the ensemble, and they count: the tree wins
    vote = server.test("/v2/models/VotingEnsemble/infer", {"inputs": XI.tolist()})
    assert vote["outputs"] == classifiers["models"]["tree"].predict(XI).tolist()
    listed = server.test("/v2/models/", method="GET")
    assert listed == {"models": ["tree", "logreg", "knn", "VotingEnsemble"], "weights": weights}


def test_weights_naming_a_model_never_added_are_refused_when_served(
    classifiers: dict[str, Any], engine: str
) -> None:
    voting = sg.VotingEnsemble(weights={"tree": 1.0, "ghost": 1.0})
    fn = _ensemble_instance(classifiers, voting)  # declaring it is fine: models may come later
    with pytest.raises(sg.GraphError, match=r"weights name unknown models \['ghost'\]"):
        serve(fn, engine=engine)


def test_an_ensemble_instance_keeps_its_weights_through_to_dict(
    classifiers: dict[str, Any], engine: str
) -> None:
    weights = {"tree": 0.8, "logreg": 0.1, "knn": 0.1}
    voting = sg.VotingEnsemble(vote_type="classification", weights=weights)
    graph = _ensemble_instance(classifiers, voting).spec.graph
    data = json.loads(json.dumps(graph.to_dict()))
    # MLRun's StepToDict rule: the instance's init args kept as attributes
    assert data["class_args"]["weights"] == weights
    assert data["class_args"]["vote_type"] == "classification"
    fn = sg.new_function("ensemble-rebuilt")
    fn.spec.graph = sg.graph_from_dict(data)  # as a function spec file is loaded (locate.py)
    vote = serve(fn, engine=engine).test("/v2/models/VotingEnsemble/infer", {"inputs": XI.tolist()})
    assert vote["outputs"] == classifiers["models"]["tree"].predict(XI).tolist()
