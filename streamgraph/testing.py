"""Helpers for testing graphs: the same test runs on every engine.

    from streamgraph.testing import serve

    def test_my_graph(engine):          # "local", or "kafka" with a broker
        server = serve(fn, engine=engine)
        assert server.test(body={"x": 1}) == {"x": 2}
        server.wait_for_completion()

`serve(fn, engine="kafka", brokers="127.0.0.1:9092")` runs the function's Faust agents in this
process on that broker, with fresh topic names, and stops them on `wait_for_completion()` or
`close_all()`.
"""

from __future__ import annotations

from typing import Any

from .errors import StreamgraphError
from .function import ServingFunction
from .graph.resolve import caller_namespace
from .settings import Settings

# The engines a scenario test runs on.
ENGINES: tuple[str, ...] = ("local", "kafka")

_servers: list[Any] = []
_default_brokers: str | None = None
_fusion_required = False


def use_brokers(brokers: str | None) -> None:
    """The broker `serve(engine="kafka")` uses when none is given (a test fixture sets it)."""
    global _default_brokers
    _default_brokers = brokers


def require_fusion(required: bool) -> None:
    """While True, `serve(engine="kafka")` of a graph that fuses no step raises
    `NothingToFuse` (a test suite's fused run uses it to skip what its unfused run covered)."""
    global _fusion_required
    _fusion_required = required


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
        server = function.to_mock_server(namespace=ns, current_function=current_function)
    elif engine == "kafka":
        from .engines.kafka.harness import KafkaServer

        brokers = brokers or _default_brokers or Settings().test_brokers.strip()
        if not brokers:
            raise StreamgraphError(
                "serve(engine='kafka') needs brokers=..., STREAMGRAPH_TEST_BROKERS, or the "
                "kafka_broker fixture"
            )
        server = KafkaServer(
            function,
            brokers,
            namespace=ns,
            current_function=current_function,
            require_fusion=_fusion_required and Settings().fuse_steps,
        )
    else:
        raise StreamgraphError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    _servers.append(server)
    return server


def close_all() -> None:
    """Stop every server `serve()` started (a fixture calls this after each test)."""
    while _servers:
        server = _servers.pop()
        closer = getattr(server, "close", None)
        if callable(closer):
            closer()
