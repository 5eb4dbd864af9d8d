"""A function's Faust worker process: the app it runs (`function_app`: a topology module's own
`app`, else a new one) and running it until it is stopped (`serve_app`, `start_worker`).
`streamgraph worker` (`streamgraph/commands/worker_process.py`) finds the function first.
"""

from __future__ import annotations

from typing import Any, NoReturn

import faust

from ...gc_tuning import tune_gc
from ...settings import Settings
from .app import build_app
from .metrics import serve_metrics, worker_registry
from .stop_deadline import watch_stop_deadline


def function_app(
    serving: Any, settings: Settings, current: str | None = None, module: Any = None
) -> faust.App:
    """The app to run: `module`'s own `app` when `serving` is that topology module's `function`
    (the object `faust -A` runs, built once, on this first use) with these settings, else a new
    one (a child function `current`, a deploy spec, another attribute, other brokers)."""
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


def serve_app(
    app: faust.App,
    settings: Settings,
    loglevel: str = "info",
    web_port: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> NoReturn:
    """Run `app` until it is stopped, within the stop deadline, the GC tuned; with
    `metrics_port`, Prometheus metrics on http://metrics_host:metrics_port/. Never returns."""
    watch_stop_deadline(app, settings.stop_timeout_seconds)
    if metrics_port:
        graph = app.streamgraph  # type: ignore[attr-defined]
        serve_metrics(worker_registry(graph), metrics_port, metrics_host)
    tune_gc(settings)
    start_worker(app, loglevel, web_port)


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
