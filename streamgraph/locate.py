"""How another process finds a function: a reference string every worker command accepts.

    topologies.cyclic                 the module's `function` (a topology module)
    topologies.cyclic:function        a module's attribute
    path/to/script.py:fn              an attribute of a Python file
    run-folder/writer.function.json   a function spec written by `deploy()`

`deploy()` picks the first that works (`function_reference`): a function that is a global of
the importable module that built it is loaded by importing that module again (everything it
did happens again: exact). A function built inside a test or a factory, or by a script (whose
main block does not run when a worker imports it), is written as JSON (its graph, parameters,
child functions) with the module it came from; the worker imports that module for the classes
and handlers the graph names (each explicit `namespace=` entry must be a module-level object).
Like `multiprocessing`, a script that deploys must guard its top level with
`if __name__ == "__main__":`, because the workers import it.
"""

from __future__ import annotations

import importlib
import inspect
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


def function_reference(function: ServingFunction, folder: Path) -> str:
    """A reference worker processes can load `function` from; may write a spec into `folder`."""
    module_name = function.origin[0]
    # a script (__main__) is imported under another name, so its main block does not run and
    # what that block assigned is missing: its functions always go as specs
    module = sys.modules.get(module_name) if module_name not in (None, "__main__") else None
    if module is not None:
        for attr, value in vars(module).items():
            if value is function:
                return f"{module_name}:{attr}"
    return str(_write_spec(function, folder))


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


# -- specs: the graph as JSON plus where its names come from ------------------------------------
def _write_spec(function: ServingFunction, folder: Path) -> Path:
    if function.graph is None:
        raise StreamgraphError(f"function {function.name} has no graph; call set_topology()")
    spec = {
        "name": function.name,
        "origin": _origin(function),
        "module_file": _module_file(function),
        "namespace": _namespace_refs(function),
        "graph": function.graph.to_dict(),
        "parameters": function.spec.parameters,
        "streaming": function.spec.streaming,
        "openai_frontend": function.spec.openai_frontend,
        "children": {name: _module_file(child) for name, child in function.child_functions.items()},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"{function.name}.function.json").resolve()
    path.write_text(json.dumps(spec, indent=2, default=str))
    return path


def _origin(function: ServingFunction) -> str | None:
    module_name, filename = function.origin
    if module_name and module_name != "__main__":
        return module_name
    return filename


def _module_file(function: ServingFunction) -> str | None:
    module = function.module
    return getattr(module, "__file__", None) if module is not None else None


def _namespace_refs(function: ServingFunction) -> dict[str, str] | None:
    """None when the names come from the origin module's globals; else a reference per name."""
    names = function.explicit_namespace
    if names is None:
        return None
    refs: dict[str, str] = {}
    for key, value in names.items():
        ref = _object_ref(value, function)
        if ref is None:
            raise StreamgraphError(
                f"deploy {function.name}: namespace entry {key!r} ({value!r}) is not a "
                "module-level class or function, so a worker process cannot import it"
            )
        refs[key] = ref
    return refs


def _object_ref(value: Any, function: ServingFunction) -> str | None:
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not (inspect.isclass(value) or inspect.isroutine(value)) or not module_name or not qualname:
        return None
    if "<" in qualname or getattr(sys.modules.get(module_name), qualname, None) is not value:
        return None
    if module_name == "__main__":
        filename = function.origin[1]
        return f"{filename}:{qualname}" if filename else None
    return f"{module_name}:{qualname}"


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


__all__ = ["function_reference", "load_function", "load_module_of"]
