"""ModelRouter: routes V2 requests to model servers by path, or by body at `/`.

The engine builds the routes (`{key: V2ModelServer}`) and calls `do_event(event)`; the router
answers the server-wide endpoints itself (`/v2`, `/v2/health/*`, `/v2/models/`) and hands model
operations to the addressed route's `handle(op, event, body)`.
"""

from __future__ import annotations

from typing import Any

from ..core.context import GraphContext
from ..core.event import Event
from ..core.paths import get_path, set_path, split_path
from ..errors import GraphError, NotFoundError, ServiceUnavailableError
from .protocol import LIST, LIVE, MODEL, READY, ROOT, SERVER, Target, body_target, parse_path
from .protocol import require as require_method
from .v2_server import as_event, route_not_found


class ModelRouter:
    """The default router of a `router` topology (and of `graph.to("*")` steps)."""

    def __init__(
        self,
        context: GraphContext | None = None,
        name: str | None = None,
        routes: dict[str, Any] | None = None,
        protocol: str | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        if protocol not in (None, "v2"):
            raise GraphError(f"router {name}: protocol {protocol!r} is not supported, use 'v2'")
        self.context = context if context is not None else GraphContext()
        self.name = name or type(self).__name__
        self.routes: dict[str, Any] = dict(routes or {})
        self.kwargs = kwargs
        self._input_keys = split_path(input_path)
        self._result_keys = split_path(result_path)
        self._by_name: dict[str, str] = {}

    def post_init(self) -> None:
        # `/v2/models/m3/infer` reaches `m3:v2` when m3 has no unversioned route (latest added)
        self._by_name = {}
        for key in self.routes:
            self._by_name[key.partition(":")[0]] = key
        for key in self.routes:
            self._by_name[key] = key

    # -- the handler ----------------------------------------------------------------------------
    def do_event(self, event: Event) -> Any:
        if type(event) is not Event:
            event = as_event(event)
        body = get_path(event.body, self._input_keys) if self._input_keys else event.body
        result = self.route(event, body)
        if self._result_keys:
            return set_path(event.body, self._result_keys, result)
        return result

    def route(self, event: Event, body: Any) -> Any:
        path = event.path
        target = parse_path(path) if path and path != "/" else None
        if target is None or target.kind == ROOT:
            if event.method in ("GET", "HEAD") and not (
                isinstance(body, dict) and ("model" in body or "operation" in body)
            ):
                return self.server_metadata()
            target = body_target(body, self.default_model())
        kind = target.kind
        if kind == MODEL:
            return self.model_operation(target, event, body)
        require_method(event.method, "GET", path)
        if kind == LIST:
            return self.list_models()
        if kind == LIVE:
            return {"live": True}
        if kind == READY:
            self.check_ready()
            return {"ready": True}
        assert kind == SERVER
        return self.server_metadata()

    # -- overridable by ensembles ---------------------------------------------------------------
    def default_model(self) -> str:
        if not self.routes:
            raise NotFoundError(f"router {self.name} has no models")
        return next(iter(self.routes))

    def model_operation(self, target: Target, event: Event, body: Any) -> Any:
        server = self.lookup(target.model)
        handle = getattr(server, "handle", None)  # (`call_route`, its common case inline)
        if handle is not None:
            return handle(target.op, event, body)
        return call_route(server, target.op, event, body)

    def lookup(self, model: str) -> Any:
        key = self._by_name.get(model)
        if key is None:
            raise route_not_found(model, list(self.routes))
        return self.routes[key]

    def check_ready(self) -> None:
        """503 naming the models still loading (or failed), if any."""
        waiting = [key for key, server in self.routes.items() if not _is_ready(server)]
        if waiting:
            raise ServiceUnavailableError(f"models not ready: {', '.join(waiting)}")

    def list_models(self) -> dict[str, Any]:
        return {"models": list(self.routes)}

    def server_metadata(self) -> dict[str, Any]:
        return {"name": type(self).__name__, "version": "v2", "extensions": []}


def call_route(server: Any, op: str, event: Event, body: Any) -> Any:
    """Call a route: a V2 server's `handle`, else a plain step object's `do_event` or `do`."""
    handle = getattr(server, "handle", None)
    if handle is not None:
        return handle(op, event, body)
    if hasattr(server, "do_event"):
        return server.do_event(event)
    return server.do(body)


def _is_ready(server: Any) -> bool:
    return bool(getattr(server, "ready", True))
