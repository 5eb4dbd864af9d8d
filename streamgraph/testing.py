"""Helpers for testing graphs: the same test runs on every engine.

from streamgraph.testing import serve

def test_my_graph(engine):          # the `engine` fixture comes from streamgraph.pytest_plugin
    server = serve(fn, engine=engine)
    assert server.test(body={"x": 1}) == {"x": 2}
    server.wait_for_completion()
"""

from __future__ import annotations

from typing import Any

from .errors import StreamgraphError
from .function import ServingFunction
from .graph.resolve import caller_namespace

# The engines a scenario test runs on. The Kafka engine joins when it exists.
ENGINES: tuple[str, ...] = ("local",)


def serve(
    function: ServingFunction,
    engine: str = "local",
    brokers: str | None = None,
    namespace: dict[str, Any] | None = None,
    current_function: str = "*",
) -> Any:
    """A server with the mock server's interface (`test`, `atest`, `wait_for_completion`)."""
    ns = caller_namespace(namespace)
    if engine == "local":
        return function.to_mock_server(namespace=ns, current_function=current_function)
    if engine == "kafka":
        raise StreamgraphError(
            "the Kafka engine is not available in this version yet; use engine='local'"
        )
    raise StreamgraphError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
