"""How another process finds a function: a reference string every worker command accepts.

    topologies.cyclic                 the module's `function` (a topology module)
    topologies.cyclic:function        a module's attribute
    path/to/script.py:fn              an attribute of a Python file
    run-folder/writer.function.json   a function spec written by `deploy()`

`deploy()` picks the first that works (`streamgraph.reference`, which writes the specs): a
function that is a global of the importable module that built it is loaded by importing that
module again (everything it did happens again: exact). A function built inside a test or a
factory, or by a script (whose main block does not run when a worker imports it), is written as
JSON (its graph, parameters, child functions) with the module it came from; the worker imports
that module for the classes and handlers the graph names (each explicit `namespace=` entry must
be a module-level object). Like `multiprocessing`, a script that deploys must guard its top
level with `if __name__ == "__main__":`, because the workers import it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import StreamgraphError
from .function import ServingFunction, load_module
from .graph.serialize import graph_from_dict


def load_function(reference: str) -> ServingFunction:
    """The function a reference names (see the module docstring)."""
    if reference.endswith(".json"):
        return _from_spec(Path(reference))
    where, _, attr = reference.partition(":")
    module = _import(where)
    function = getattr(module, attr or "function", None)
    if not isinstance(function, ServingFunction):
        if not attr:
            raise StreamgraphError(
                f"{where} has no `function`: a topology module exposes the ServingFunction "
                "it serves as `function` (and its Faust app as `app`)"
            )
        raise StreamgraphError(f"{where}:{attr} is not a ServingFunction")
    return function


def load_module_of(reference: str) -> Any:
    """The module a module reference names (for DEMO_REQUESTS and the like), or None."""
    if reference.endswith(".json"):
        return None
    return _import(reference.partition(":")[0])


_files: dict[Path, Any] = {}  # Python files imported by path, each once


def _import(where: str) -> Any:
    try:
        if where.endswith(".py"):
            path = Path(where).resolve()
            if path not in _files:
                _files[path] = load_module(str(path))
            return _files[path]
        return importlib.import_module(where)
    except ImportError as exc:
        looked = _where_looked(where, exc)
        raise StreamgraphError(f"cannot import {where!r}: {exc}{looked}") from exc


def _where_looked(where: str, exc: ImportError) -> str:
    """Where modules are looked up, when the module `where` names (not one it imports) is
    missing: a topology module comes from the working folder or PYTHONPATH."""
    missing = exc.name or ""
    if not isinstance(exc, ModuleNotFoundError) or not (where + ".").startswith(missing + "."):
        return ""
    folder = os.getcwd()
    if folder in sys.path or "" in sys.path:
        return f" (looked in the current folder, {folder}, on PYTHONPATH and in site-packages)"
    return f" (looked on PYTHONPATH and in site-packages, not in the current folder, {folder})"


# -- specs (written by `reference.write_spec`) ----------------------------------------------
def _from_spec(path: Path) -> ServingFunction:
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StreamgraphError(f"cannot read function spec {path}: {exc}") from exc
    origin = _import(spec["origin"]) if spec.get("origin") else None
    if spec.get("namespace") is None:
        namespace = dict(vars(origin)) if origin is not None else {}
        if origin is not None and str(spec["origin"]).endswith(".py"):
            namespace.setdefault("__main__", origin)  # classes given as objects: "__main__.X"
    else:
        namespace = {}
        for key, ref in spec["namespace"].items():
            where, _, qualname = ref.partition(":")
            namespace[key] = getattr(_import(where), qualname)
    module = load_module(spec["module_file"], spec["name"]) if spec.get("module_file") else None
    function = ServingFunction(spec["name"], namespace=namespace, module=module)
    function.spec.graph = graph_from_dict(spec["graph"])
    function.spec.parameters = dict(spec.get("parameters") or {})
    function.spec.streaming = spec.get("streaming")
    function.spec.openai_frontend = spec.get("openai_frontend")
    for child, module_file in spec.get("children", {}).items():
        function.add_child_function(child, url=module_file)
    return function


__all__ = ["load_function", "load_module_of"]
