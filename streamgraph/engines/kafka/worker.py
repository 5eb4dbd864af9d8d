"""Run a topology's function as a Faust worker: `streamgraph worker topologies.NAME`.

A topology module exposes `function` (a ServingFunction) and `app` (its Faust app, built on
first use), so `faust -A topologies.NAME worker -l info` works too; this command adds
`--function` to run a child function's worker from the same module, `--model` for a model
worker, metrics and a stop deadline. Besides module names it takes every function reference
`streamgraph.locate` knows (`module:attr`, `file.py:attr`, a deploy spec `.json`).
"""

from __future__ import annotations

from typing import Any, NoReturn

import faust

from ...errors import StreamgraphError
from ...gc_tuning import tune_gc
from ...loops import use_uvloop
from ...settings import Settings
from .app import build_app
from .deadline import watch_stop_deadline
from .metrics import serve_metrics, worker_registry
from .model_worker import run_model_worker


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
    from ...locate import load_function

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
    watch_stop_deadline(app, settings.stop_timeout_seconds)
    if metrics_port:
        graph = app.streamgraph  # type: ignore[attr-defined]
        serve_metrics(worker_registry(graph), metrics_port, metrics_host)
    tune_gc(settings)
    start_worker(app, loglevel, web_port)


def worker_app(
    reference: str, serving: Any, settings: Settings, current: str | None = None
) -> faust.App:
    """The app to run: the module's own `app` when `reference` names a topology module's
    `function` (the object `faust -A` runs, built once, on this first use) with these settings,
    else a new one (a child function, a deploy spec, another attribute, other brokers)."""
    from ...locate import load_module_of

    module = load_module_of(reference) if current is None else None
    if module is not None and vars(module).get("function") is serving:
        app = getattr(module, "app", None)  # builds it when the module builds it lazily
        graph = getattr(app, "streamgraph", None)
        if (
            isinstance(app, faust.App)
            and getattr(graph, "function", None) is serving
            and getattr(graph, "settings", None) == settings
        ):
            return app
    return build_app(serving, settings, current_function=current)


def start_worker(app: faust.App, loglevel: str = "info", web_port: int | None = None) -> NoReturn:
    """Run `app` in a Faust worker until it is stopped; never returns.

    Does what `faust -A MODULE worker -l LEVEL --without-web` (or `--web-port PORT`) does,
    through Faust's programmatic entry (`faust.Worker(app).execute_from_commandline()`).
    """
    # what `App.main()` and `faust -A` do to an app before running any command: the worker
    # fixups and the web views (faust.cli.base.prepare_app; the Worker autodiscovers itself)
    app.finalize()
    app.worker_init()
    app.worker_init_post_autodiscover()
    # what the `worker` command does with its web options (faust.cli.worker._init_worker_options)
    app.conf.web_enabled = bool(web_port)
    if web_port:
        app.conf.web_port = web_port
        app.conf.canonical_url = f"http://{app.conf.web_host}:{web_port}"  # type: ignore[assignment]
    # redirect_stdouts as the `worker` command: print() in a step goes to the log
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=True)
    worker.execute_from_commandline()
