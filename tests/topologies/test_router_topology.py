"""The guide's model router, through the HTTP gateway, on the real broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_iris
from topology_gateway import gateway_client

from agents.iris_models import iris_model_paths
from topologies import router

pytestmark = pytest.mark.kafka

FEATURES, _ = load_iris(return_X_y=True)
SAMPLE = FEATURES[::7]  # rows from all three classes


async def test_each_model_answers_with_its_own_prediction(kafka_broker: Any) -> None:
    paths = iris_model_paths()
    async with gateway_client(router.build_function(), kafka_broker) as client:
        for name in ("model1", "model2"):
            expected = joblib.load(paths[name]).predict(SAMPLE).tolist()
            resp = await client.post(f"/v2/models/{name}/infer", json={"inputs": SAMPLE.tolist()})
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
            assert answer["model_name"] == name
            assert answer["outputs"] == expected
        listing = await client.get("/v2/models/")
        assert await listing.json() == {"models": ["model1", "model2"]}


async def test_an_unknown_model_is_a_404_json_error(kafka_broker: Any) -> None:
    async with gateway_client(router.build_function(), kafka_broker) as client:
        resp = await client.post("/v2/models/model3/infer", json={"inputs": SAMPLE.tolist()})
        assert resp.status == 404
        assert resp.content_type == "application/json"
        error = (await resp.json())["error"]
        assert "model3" in error and "model1 | model2" in error


def test_models_are_trained_once_and_reused(tmp_path: Path) -> None:
    first = iris_model_paths(tmp_path)
    stamps = {name: path.stat().st_mtime_ns for name, path in first.items()}
    again = iris_model_paths(tmp_path)
    assert again == first
    assert {name: path.stat().st_mtime_ns for name, path in again.items()} == stamps
    # deterministic: a second folder trains the same models
    other = iris_model_paths(tmp_path / "other")
    for name in first:
        assert (
            joblib.load(other[name]).predict(FEATURES).tolist()
            == joblib.load(first[name]).predict(FEATURES).tolist()
        )
