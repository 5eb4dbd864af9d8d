"""The reference `deploy()` hands its worker processes for a function (`function_reference`):
`module:attr` when the function is a global of the importable module that built it, else a
JSON spec it writes (`write_spec`). `streamgraph.locate` loads both.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StreamgraphError

if TYPE_CHECKING:  # the function calls deploy(), which calls this: only its attributes are read
    from .function import ServingFunction


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
    return str(write_spec(function, folder))


def write_spec(function: ServingFunction, folder: Path) -> Path:
    """Write `function` as `<name>.function.json` into `folder` (its graph, parameters, child
    functions, and where its names come from); returns the file's path."""
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


__all__ = ["function_reference", "write_spec"]
