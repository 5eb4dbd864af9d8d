"""Two scikit-learn classifiers of the iris flowers, for the router example.

They are trained deterministically from the iris data scikit-learn ships (no network) the
first time they are asked for, and kept as joblib files in the models folder
(`STREAMGRAPH_EXAMPLE_MODELS_DIR`, default `~/.cache/streamgraph/models`). The file names carry
the scikit-learn version: a model pickled by another version would load with a warning.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from agents.config import ExampleSettings

IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def _estimators() -> dict[str, Any]:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "model1": DecisionTreeClassifier(max_depth=3, random_state=0),
        "model2": KNeighborsClassifier(n_neighbors=7),
    }


def iris_model_paths(folder: Path | None = None) -> dict[str, Path]:
    """`{"model1": <tree>.joblib, "model2": <knn>.joblib}`, training any that is missing."""
    import joblib
    import sklearn
    from sklearn.datasets import load_iris

    folder = Path(folder or ExampleSettings().models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    features = target = None
    for name, estimator in _estimators().items():
        path = folder / f"iris-{name}-sklearn{sklearn.__version__}.joblib"
        if not path.exists():
            if features is None:
                features, target = load_iris(return_X_y=True)
            estimator.fit(features, target)
            # write then rename: two workers starting together never read half a file
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            os.close(fd)
            joblib.dump(estimator, tmp)
            os.replace(tmp, path)
        paths[name] = path
    return paths


__all__ = ["IRIS_CLASSES", "iris_model_paths"]
