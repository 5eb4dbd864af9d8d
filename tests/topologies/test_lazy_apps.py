"""Importing a topology module builds no Faust app and instantiates no step; `app` is built on
first use, once, and is what `faust -A topologies.NAME worker` finds."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import faust
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(ROOT / "topologies")]))
HANDLERS_ONLY = {"pipeline", "pipeline_reply"}  # functions only: no step objects at all

# Run in a fresh interpreter, so nothing imported earlier (by this test session) hides a build.
# Counts every faust.App constructed, and records the class of every object whose Python
# __init__ runs while the module is imported (a profile hook) and of every object alive after
# it (the garbage collector's view). Then takes `module.app` (the lazy build), and builds one
# more app under the profile hook to learn the step classes: the classes of the step objects
# that compiling the graph instantiates (an object the declaration itself holds, such as a
# ModelRunnerStep, is not instantiated by the compile and is not a step class here).
PROBE = """
import gc, importlib, json, sys
import faust

apps = []
_init = faust.App.__init__
def counting_init(self, *args, **kwargs):
    apps.append(type(self).__name__)
    _init(self, *args, **kwargs)
faust.App.__init__ = counting_init

initialised = set()
def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "__init__":
        obj = frame.f_locals.get("self")
        if obj is not None:
            initialised.add(type(obj))

def recording(build):
    initialised.clear()
    sys.setprofile(profile)
    try:
        return build()
    finally:
        sys.setprofile(None)

module = recording(lambda: importlib.import_module("topologies." + sys.argv[1]))
at_import = set(initialised)
alive = {type(o) for o in gc.get_objects()}
report = {"apps_at_import": list(apps), "app_in_globals": "app" in vars(module)}
if hasattr(module, "function"):
    app = module.app
    report.update(apps_on_first_use=apps[len(report["apps_at_import"]):])
    report.update(same_app=module.app is app and getattr(module, "app") is app)
    from streamgraph.engines.kafka import build_app
    fresh = recording(lambda: build_app(module.function))
    objects = list(fresh.streamgraph.plan.objects)
    for obj in list(objects):
        objects.extend((getattr(obj, "routes", None) or {}).values())
    steps = {type(o) for o in objects} & initialised
    report.update(
        step_classes=sorted(c.__qualname__ for c in steps),
        initialised_at_import=sorted(c.__qualname__ for c in steps & at_import),
        alive_after_import=sorted(c.__qualname__ for c in steps & alive),
    )
print(json.dumps(report))
"""


def _probe(name: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("name", MODULES)
def test_importing_a_topology_builds_no_app_and_no_step(name: str) -> None:
    report = _probe(name)
    assert report["apps_at_import"] == [], "importing built a Faust app"
    assert not report["app_in_globals"]
    if "step_classes" not in report:  # a helper module (pictures, _demo): no function
        return
    assert report["initialised_at_import"] == [], "importing instantiated steps"
    assert report["alive_after_import"] == [], "importing instantiated steps"
    # the check is not vacuous: building the app did instantiate these step classes
    assert bool(report["step_classes"]) == (name not in HANDLERS_ONLY), report["step_classes"]
    assert len(report["apps_on_first_use"]) == 1 and report["same_app"]


def test_faust_finds_the_app_by_attribute_once() -> None:
    """`faust -A topologies.pipeline` resolves `module.app` by attribute access (find_app)."""
    from faust.cli.base import find_app

    module = pytest.importorskip("topologies.pipeline")
    found = find_app("topologies.pipeline")
    assert isinstance(found, faust.App)
    assert found is module.app
    assert find_app("topologies.pipeline:app") is found  # the `module:app` spelling
    assert sorted(found.agents) == [f"sg.pipeline.{s}.agent" for s in ("enrich", "label", "score")]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = module.nothing


def test_streamgraph_worker_runs_the_modules_own_app() -> None:
    """One app per worker process: the module's `app`, or for a child function a new one."""
    from streamgraph.commands.worker_process import worker_app
    from streamgraph.locate import load_function
    from streamgraph.settings import Settings

    module = pytest.importorskip("topologies.queue_child")
    serving = load_function("topologies.queue_child")
    app = worker_app("topologies.queue_child", serving, Settings())
    assert app is module.app
    child = worker_app("topologies.queue_child", serving, Settings(), current="log-ds")
    assert child is not app
    assert child.streamgraph.topology.function == "log-ds"  # type: ignore[attr-defined]
