"""Run a topology's function as a Faust worker: the body of `streamgraph worker topologies.NAME`.

A topology module exposes `function` (a ServingFunction) and `app` (its Faust app, built on
first use), so `faust -A topologies.NAME worker -l info` works too; this command adds
`--function` to run a child function's worker from the same module, `--model` for a model
worker, metrics and a stop deadline. Besides module names it takes every function reference
`streamgraph.locate` knows (`module:attr`, `file.py:attr`, a deploy spec `.json`).
"""

from __future__ import annotations

from typing import Any

from ..engines.kafka.model_worker import run_model_worker
from ..engines.kafka.worker import function_app, serve_app
from ..errors import StreamgraphError
from ..locate import load_function, load_module_of
from ..loops import use_uvloop
from ..settings import Settings


def run_worker(
    module_name: str,
    function: str | None = None,
    loglevel: str = "info",
    web_port: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    model: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Start a Faust worker for the module's function (or its child `function`) and block.

    With `metrics_port`, Prometheus metrics are served on http://metrics_host:metrics_port/.
    With `model`, start the model worker of that shared model instead (`model_worker.py`).
    `settings` default to the environment's.
    """
    use_uvloop()  # before anything creates an event loop
    settings = settings or Settings()
    serving = load_function(module_name)
    if model:
        run_model_worker(serving, model, loglevel, settings)
        return
    current = None if function in (None, "", serving.name) else function
    if current is not None and current not in serving.child_functions:
        names = ", ".join(sorted(serving.child_functions)) or "none"
        raise StreamgraphError(
            f"{serving.name} has no child function {current!r} (children: {names})"
        )
    app = worker_app(module_name, serving, settings, current)
    serve_app(app, settings, loglevel, web_port, metrics_port, metrics_host)


def worker_app(reference: str, serving: Any, settings: Settings, current: str | None = None) -> Any:
    """The Faust app to run for the function `reference` names (or its child `current`): the
    topology module's own `app` when it fits, else a new one (`function_app`)."""
    module = load_module_of(reference) if current is None else None
    return function_app(serving, settings, current, module)


__all__ = ["run_worker", "worker_app"]
