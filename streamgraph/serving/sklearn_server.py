"""The scikit-learn model server of `hub://v2_model_server` (MLRun hub's `v2_model_server`).

`model_path` is a local path or a `file://` URL: a `.joblib`/`.pkl` file, or a directory holding
exactly one model file (`*.joblib`, `*.pkl`, `*.pickle`, or `model.*`). Other schemes
(`store://`, `s3://`, `http(s)://`, ...) are refused with an error saying what is supported.

Request parameters:
- `{"parameters": {"proba": true}}` (or `"predict_proba": true`) answers with
  `model.predict_proba` (class probabilities per row) instead of `model.predict`.

Security: joblib and pickle files run code when loaded; serve only model files you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from ..errors import BadRequestError, GraphError
from .v2_server import V2ModelServer

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle")
SUPPORTED = "a local path or a file:// URL (a .joblib/.pkl file, or a directory with one)"


def resolve_model_file(model_path: str) -> Path:
    """The model file `model_path` names; clear errors for other schemes and ambiguous dirs."""
    parsed = urlparse(model_path)
    # one-letter schemes are Windows drives (C:\\...), not URLs
    if parsed.scheme and len(parsed.scheme) > 1:
        if parsed.scheme != "file":
            raise GraphError(
                f"model_path {model_path!r}: the {parsed.scheme}:// scheme is not supported; "
                f"use {SUPPORTED}"
            )
        path = Path(unquote(parsed.netloc + parsed.path))
    else:
        path = Path(model_path)
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and (p.suffix in MODEL_SUFFIXES or p.stem == "model")
        )
        if len(found) == 1:
            return found[0]
        names = ", ".join(p.name for p in found) or "none"
        raise GraphError(
            f"model_path {model_path!r}: expected exactly one model file "
            f"(*.joblib, *.pkl, *.pickle or model.*) in the directory, found {names}"
        )
    raise GraphError(f"model_path {model_path!r}: no such file or directory")


def load_model_file(path: Path) -> Any:
    if path.suffix in (".pkl", ".pickle"):
        with path.open("rb") as f:
            return pickle.load(f)
    import joblib  # only when needed: joblib is a test/extra dependency

    return joblib.load(path)


class SklearnModelServer(V2ModelServer):
    """Serves a fitted scikit-learn estimator (anything with `predict`)."""

    platform = "sklearn"

    def load(self) -> None:
        if not self.model_path:
            raise GraphError(f"model {self.name}: model_path is required ({SUPPORTED})")
        self.model = load_model_file(resolve_model_file(self.model_path))
        if not hasattr(self.model, "predict"):
            raise GraphError(f"model {self.name}: {type(self.model).__name__} has no predict()")

    def predict(self, request: dict[str, Any]) -> Any:
        inputs = request["inputs"]
        # tensor requests carry one ndarray per input tensor; the MLRun form is a list of rows
        if inputs and isinstance(inputs[0], np.ndarray):
            if len(inputs) != 1:
                raise BadRequestError("inputs: a scikit-learn model takes one input tensor")
            features = inputs[0]
        else:
            features = np.asarray(inputs)
        if self.get_param("proba", False) or self.get_param("predict_proba", False):
            if not hasattr(self.model, "predict_proba"):
                raise BadRequestError(
                    f"parameters.proba: {type(self.model).__name__} has no predict_proba"
                )
            return self.model.predict_proba(features)
        return self.model.predict(features)
