"""`import_function("hub://<name>")`: ready-made serving functions (MLRun's function hub).

The hub is local and small: each name builds a `ServingFunction` in code, so no network access.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import GraphError
from .function import ServingFunction

HUB_PREFIX = "hub://"


def _v2_model_server(name: str) -> ServingFunction:
    """A router topology whose models default to the scikit-learn server."""
    fn = ServingFunction(name)
    fn.set_topology("router")
    fn.spec.default_class = "streamgraph.serving.sklearn_server.SklearnModelServer"
    return fn


# hub name -> (builder, default function name)
HUB: dict[str, tuple[Callable[[str], ServingFunction], str]] = {
    "v2_model_server": (_v2_model_server, "v2-model-server"),
}


def import_function(url: str, new_name: str | None = None) -> ServingFunction:
    """A function from the hub: `hub://v2_model_server` (an optional `:tag` is ignored)."""
    if not url.startswith(HUB_PREFIX):
        raise GraphError(
            f"import_function({url!r}): only {HUB_PREFIX}<name> URLs are supported; "
            f"available: {_available()}"
        )
    name = url[len(HUB_PREFIX) :].partition(":")[0].strip("/").replace("-", "_")
    entry = HUB.get(name)
    if entry is None:
        raise GraphError(f"hub function {name!r} not found; available: {_available()}")
    build, default_name = entry
    return build(new_name or default_name)


def _available() -> str:
    return ", ".join(f"{HUB_PREFIX}{n}" for n in HUB)
