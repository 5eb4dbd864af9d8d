"""`streamgraph worker` starts Faust through `faust.Worker(app).execute_from_commandline()`,
configured as `faust worker -l LEVEL --without-web` (or `--web-port PORT`), without touching
sys.argv (no broker needed: the Worker is replaced by a recorder)."""

from __future__ import annotations

import sys
from typing import Any

import faust
import pytest

import streamgraph as sg
from streamgraph.engines.kafka import build_app
from streamgraph.engines.kafka.worker import start_worker
from streamgraph.settings import Settings


class RecordingWorker:
    made: list[RecordingWorker] = []

    def __init__(self, app: faust.App, **options: Any) -> None:
        self.app, self.options = app, options
        RecordingWorker.made.append(self)

    def execute_from_commandline(self) -> None:
        raise SystemExit(0)  # as Faust's does once the worker stopped


def _app() -> faust.App:
    fn = sg.new_function("entry")
    fn.set_topology("flow").to(name="echo", handler="(event)")
    return build_app(fn, Settings(topic_prefix="t"))


@pytest.fixture(autouse=True)
def recording_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingWorker.made.clear()
    monkeypatch.setattr(faust, "Worker", RecordingWorker)


def test_without_a_web_port_the_worker_serves_no_web_views() -> None:
    argv = list(sys.argv)
    app = _app()
    with pytest.raises(SystemExit):
        start_worker(app, "warning")
    assert sys.argv == argv
    [worker] = RecordingWorker.made
    assert worker.app is app
    assert worker.options["loglevel"] == "warning"
    assert worker.options["redirect_stdouts"] is True  # as `faust worker`: print() is logged
    assert app.conf.web_enabled is False
    assert app.finalized


def test_a_web_port_turns_the_web_views_on() -> None:
    app = _app()
    with pytest.raises(SystemExit):
        start_worker(app, "info", web_port=6123)
    assert app.conf.web_enabled is True
    assert app.conf.web_port == 6123
    assert str(app.conf.canonical_url) == f"http://{app.conf.web_host}:6123"
