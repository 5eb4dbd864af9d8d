"""The context steps receive: a logger, parameters, the server, shared models."""

from __future__ import annotations

import logging
from typing import Any

from ..settings import secret


class GraphContext:
    """What a step sees of the server it runs in (MLRun's `GraphContext`)."""

    def __init__(
        self,
        server: Any = None,
        parameters: dict[str, Any] | None = None,
        namespace: dict[str, Any] | None = None,
        current_function: str = "*",
        logger: logging.Logger | None = None,
        is_mock: bool = True,
    ) -> None:
        self.server = server
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.namespace: dict[str, Any] = namespace or {}
        self.current_function = current_function
        self.logger = logger or logging.getLogger("streamgraph.graph")
        self.is_mock = is_mock
        self.root: Any = None
        # filled by the engine: name -> shared model runnable, and the endpoint registry
        self.shared_models: Any = None
        # an engine's factory for shared models served outside this process (see shared.py)
        self.remote_models: Any = None
        self.endpoints: Any = None
        self.streaming = False

    def get_param(self, key: str, default: Any = None) -> Any:
        return self.parameters.get(key, default)

    def get_secret(self, key: str) -> str | None:
        """The environment variable `key` (as MLRun's context, whose secrets come from there)."""
        return secret(key)

    def push_error(self, event: Any, message: str, source: str | None = None, **kw: Any) -> None:
        self.logger.error(
            "step %s failed on event %s: %s", source, getattr(event, "id", "?"), message
        )
