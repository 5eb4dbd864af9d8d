"""VotingEnsemble: a router whose own name answers with the vote of all its models.

`/v2/models/<ensemble name>/infer` (and `/` without a `model`) asks every route and combines the
predictions: classification takes the weighted majority per row, regression the weighted mean.
With `vote_type=None` the type is detected as MLRun does: integer predictions mean
classification. Single models stay reachable by their own names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.context import GraphContext
from ..core.event import Event
from ..errors import BadRequestError, GraphError, InternalServerError
from . import oip
from .protocol import Target, require
from .router import ModelRouter, call_route
from .v2_server import route_not_found

VOTE_TYPES = ("classification", "regression")


class VotingEnsemble(ModelRouter):
    """A router that votes: classification (weighted majority) or regression (weighted mean)."""

    def __init__(
        self,
        context: GraphContext | None = None,
        name: str | None = None,
        routes: dict[str, Any] | None = None,
        protocol: str | None = None,
        vote_type: str | None = None,
        weights: dict[str, float] | list[float] | None = None,
        prediction_col_name: str = "prediction",
        format_response_with_col_name_flag: bool = False,
        input_path: str | None = None,
        result_path: str | None = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(context, name, routes, protocol, input_path, result_path, **kwargs)
        # the engine names a router topology's step "router"; the ensemble answers by its own name
        if name in (None, "router"):
            self.name = "VotingEnsemble"
        if vote_type not in (None, *VOTE_TYPES):
            raise GraphError(f"{self.name}: vote_type must be one of {VOTE_TYPES} or None")
        self.vote_type = vote_type
        self.weights = weights
        self.prediction_col_name = prediction_col_name
        self.format_response_with_col_name_flag = format_response_with_col_name_flag
        self.version = version
        self._weights = np.zeros(0)

    def post_init(self) -> None:
        super().post_init()
        self._weights = self._normalised_weights()

    def _normalised_weights(self) -> np.ndarray[Any, Any]:
        """One weight per route, summing to 1; routes missing from a weights dict get 0."""
        keys = list(self.routes)
        if self.weights is None:
            raw = [1.0] * len(keys)
        elif isinstance(self.weights, dict):
            unknown = set(self.weights) - set(keys)
            if unknown:
                # checked when the graph is built: models may be added after the ensemble
                raise GraphError(
                    f"{self.name}: weights name unknown models {sorted(unknown)}; the ensemble's "
                    f"models are {keys or '(none)'} (add them with fn.add_model())"
                )
            raw = [float(self.weights.get(k, 0.0)) for k in keys]
        else:
            if len(self.weights) != len(keys):
                raise GraphError(f"{self.name}: {len(self.weights)} weights for {len(keys)} models")
            raw = [float(w) for w in self.weights]
        total = sum(raw)
        if keys and total <= 0:
            raise GraphError(f"{self.name}: weights must sum to a positive number")
        return np.asarray(raw) / total if keys else np.zeros(0)

    # -- routing --------------------------------------------------------------------------------
    def default_model(self) -> str:
        return self.name  # `/` with no model votes (as MLRun)

    def lookup(self, model: str) -> Any:
        key = self._by_name.get(model)
        if key is None:
            extra = f" | {self.name} (the ensemble vote)"
            raise route_not_found(model, list(self.routes), extra)
        return self.routes[key]

    def model_operation(self, target: Target, event: Event, body: Any) -> Any:
        if target.model != self.name:
            return super().model_operation(target, event, body)
        op = target.op
        if not op and event.method in ("GET", "HEAD"):
            return self.metadata()
        if op in ("", "infer", "predict"):
            require(event.method, "POST", f"{self.name}/infer")
            return self.vote(event, body)
        if op == "ready":
            require(event.method, "GET", f"{self.name}/ready")
            self.check_ready()
            return {"name": self.name, "ready": True}
        raise BadRequestError(
            f"illegal operation {op!r} for ensemble {self.name}; valid: infer, ready"
        )

    def list_models(self) -> dict[str, Any]:
        return {"models": [*self.routes, self.name], "weights": self.weights}

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version] if self.version else [],
            "platform": "ensemble",
            "inputs": [],
            "outputs": [],
        }

    # -- voting ---------------------------------------------------------------------------------
    def vote(self, event: Event, body: Any) -> dict[str, Any]:
        if not self.routes:
            raise BadRequestError(f"ensemble {self.name} has no models to vote")
        responses = [call_route(s, "infer", event, body) for s in self.routes.values()]
        predictions = [_prediction(key, r) for key, r in zip(self.routes, responses, strict=True)]
        shapes = {p.shape for p in predictions}
        if len(shapes) != 1:
            raise InternalServerError(f"{self.name}: models returned different shapes {shapes}")
        stacked = np.stack(predictions)
        vote_type = self.vote_type or _detect(stacked)
        if vote_type == "classification":
            result = _majority(stacked, self._weights)
        else:
            result = np.tensordot(self._weights, stacked.astype(float), axes=1)
        first = responses[0]["outputs"]
        if (
            first
            and isinstance(first, list)
            and isinstance(first[0], dict)
            and "datatype" in first[0]
        ):
            outputs: Any = oip.encode_outputs(result, [first[0]["name"]])
        elif self.format_response_with_col_name_flag:
            outputs = {self.prediction_col_name: result.tolist()}
        else:
            outputs = result.tolist()
        response: dict[str, Any] = {
            "id": body.get("id") or event.id if isinstance(body, dict) else event.id,
            "model_name": self.name,
            "outputs": outputs,
        }
        if self.version:
            response["model_version"] = self.version
        return response


def _prediction(key: str, response: Any) -> np.ndarray[Any, Any]:
    """A model's predictions as an array: its outputs, or its first output tensor."""
    outputs = response.get("outputs") if isinstance(response, dict) else None
    if outputs is None:
        raise InternalServerError(f"model {key} returned no outputs to vote on")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        tensor = outputs[0]
        return np.asarray(tensor["data"]).reshape(tensor["shape"])
    if isinstance(outputs, dict) and len(outputs) == 1:
        outputs = next(iter(outputs.values()))
    return np.asarray(outputs)


def _detect(stacked: np.ndarray[Any, Any]) -> str:
    return "classification" if stacked.dtype.kind in "iub" else "regression"


def _majority(stacked: np.ndarray[Any, Any], weights: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per element, the class with the largest summed weight (ties: the smallest class)."""
    classes = np.unique(stacked)
    # scores[c, ...] = sum over models of weight where the model predicted class c
    scores = np.stack([np.tensordot(weights, stacked == c, axes=1) for c in classes])
    return classes[np.argmax(scores, axis=0)]
