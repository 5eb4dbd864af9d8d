"""A topology module's Faust app, built on first use: importing the module builds no app.

    function = build_function()          # the declaration: pure data, no step instantiated
    __getattr__ = lazy_app(__name__)     # `module.app` is build_app(function), built once

`describe`, `plot`, the gateway and `streamgraph worker --function CHILD` import a topology
for its `function` only; building the app compiles the graph, which instantiates every step
(and loads its models). `faust -A topologies.NAME worker` still finds the app: Faust resolves
`-A` with `getattr(module, "app")` (`faust.cli.base.find_app`), and an attribute missing from a
module's globals is looked up through the module's `__getattr__` (PEP 562). The first access
stores the app in the module's globals, so every later access (and Faust's second lookup)
returns that same object without calling `__getattr__` again.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import faust

from .app import build_app


def lazy_app(
    module_name: str, build: Callable[[], faust.App] | None = None
) -> Callable[[str], Any]:
    """A module `__getattr__` that builds `app` (default: `build_app(module.function)`) once."""
    lock = threading.Lock()  # two threads asking at once still get one app

    def __getattr__(name: str) -> Any:
        if name != "app":
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = sys.modules[module_name]
        with lock:
            if "app" not in vars(module):
                app = build() if build is not None else build_app(vars(module)["function"])
                vars(module)["app"] = app  # a global now: later lookups skip __getattr__
        return vars(module)["app"]

    return __getattr__


__all__ = ["lazy_app"]
