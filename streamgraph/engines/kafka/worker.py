"""Run a topology's function as a Faust worker: `streamgraph worker topologies.NAME`.

A topology module exposes `function` (a ServingFunction) and `app` (its Faust app), so
`faust -A topologies.NAME worker -l info` works too; this command adds `--function` to run a
child function's worker from the same module. Besides module names it takes every function
reference `streamgraph.locate` knows (`module:attr`, `file.py:attr`, a deploy spec `.json`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from ...errors import StreamgraphError
from ...loops import use_uvloop
from ...settings import Settings
from .app import build_app
from .deadline import watch_stop_deadline
from .metrics import serve_metrics, worker_registry
from .model_worker import run_model_worker


def load_topology(module_name: str) -> Any:
    """Import `topologies.NAME` (or any module) and return it."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise StreamgraphError(f"cannot import topology module {module_name!r}: {exc}") from exc


def topology_function(module: Any) -> Any:
    function = getattr(module, "function", None)
    if function is None:
        raise StreamgraphError(
            f"{module.__name__} has no `function`: a topology module exposes the ServingFunction "
            "it serves as `function` (and its Faust app as `app`)"
        )
    return function


def run_worker(
    module_name: str,
    function: str | None = None,
    loglevel: str = "info",
    web_port: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    model: str | None = None,
) -> None:
    """Start a Faust worker for the module's function (or its child `function`) and block.

    With `metrics_port`, Prometheus metrics are served on http://metrics_host:metrics_port/.
    With `model`, start the model worker of that shared model instead (`model_worker.py`).
    """
    from ...locate import load_function

    use_uvloop()  # before anything creates an event loop
    serving = load_function(module_name)
    if model:
        run_model_worker(serving, model, loglevel)
        return
    current = None if function in (None, "", serving.name) else function
    if current is not None and current not in serving.child_functions:
        names = ", ".join(sorted(serving.child_functions)) or "none"
        raise StreamgraphError(
            f"{serving.name} has no child function {current!r} (children: {names})"
        )
    settings = Settings()
    app = build_app(serving, settings, current_function=current)
    watch_stop_deadline(app, settings.stop_timeout_seconds)
    if metrics_port:
        graph = app.streamgraph  # type: ignore[attr-defined]
        serve_metrics(worker_registry(graph), metrics_port, metrics_host)
    argv = ["streamgraph-worker", "worker", "-l", loglevel]
    if web_port:
        argv += ["--web-port", str(web_port)]
    else:
        argv += ["--without-web"]
    sys.argv = argv
    app.main()
