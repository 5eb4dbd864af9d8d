"""One exception family for streamgraph.

`StreamgraphError` is the root. Graph problems found while building are `GraphError`.
HTTP-aware errors carry `status_code`; engines and the gateway map any exception to a response in
one place (`status_of`), so a step may raise `NotFoundError` to answer 404 and so on.
"""

from __future__ import annotations


class StreamgraphError(Exception):
    """Root of every error streamgraph raises on purpose."""


class GraphError(StreamgraphError, ValueError):
    """The graph cannot work as declared; raised when it is built, before anything runs."""


class StreamingError(StreamgraphError, RuntimeError):
    """A streaming rule was broken, such as streaming on top of an un-collected stream."""


class OutletError(StreamgraphError, RuntimeError):
    """A step selected outlets that are not its direct successors, or named one twice."""


class DeployError(StreamgraphError, RuntimeError):
    """A deployed function's processes could not be started, or it is not deployed."""


class ManifestError(StreamgraphError, ValueError):
    """Kubernetes manifests cannot be written as asked (the message says why)."""


class BrokerUnreachableError(StreamgraphError, ConnectionError):
    """No Kafka broker answered at the addresses a command or a test server was given.

    The message names the addresses and what to do; commands print it as their one line.
    """

    def __init__(self, brokers: str, where_from: str = "", detail: str = "") -> None:
        self.brokers = brokers
        origin = f" ({where_from})" if where_from else ""
        because = f": {detail}" if detail else ""
        super().__init__(
            f"no Kafka broker answers at {brokers}{origin}{because}. Start one with "
            "`streamgraph kafka start`, or point STREAMGRAPH_BROKERS (or --brokers) at yours."
        )


class KafkaAccessError(BrokerUnreachableError):
    """A Kafka broker answered but refused this client: its login (`kind` "authentication"),
    its TLS handshake ("tls") or an ACL ("authorization", `resource` names what was denied).

    A BrokerUnreachableError, so every place that turns an unreachable broker into one line
    does the same with it. The message is that one line: the broker, the client's protocol,
    mechanism and principal (`who`, never a secret), the denied resource and what to do.
    connection/kafka_failures.py makes it from the client libraries' errors.
    """

    def __init__(
        self, brokers: str, kind: str, who: str, detail: str, resource: str | None = None
    ) -> None:
        StreamgraphError.__init__(self, detail)
        self.brokers = brokers
        self.kind = kind
        self.who = who
        self.resource = resource
        self.detail = detail

    def __str__(self) -> str:
        return self.detail


class KafkaSecurityError(StreamgraphError, ValueError):
    """The Kafka connection settings (STREAMGRAPH_KAFKA_*, the client properties file) cannot
    work together; refused at start. The message names the setting, never a secret's value."""


class InvocationError(StreamgraphError, RuntimeError):
    """`fn.invoke()` got an error status; `status_code` and the answer's `body` are kept."""

    def __init__(self, message: str, status_code: int, body: object = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class HTTPError(StreamgraphError):
    """An error that answers with its own HTTP status (400 unless a subclass says otherwise)."""

    status_code: int = 400

    def __init__(self, message: str = "", status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class BadRequestError(HTTPError, ValueError):
    """400: the request is malformed."""

    status_code = 400


class UnauthorizedError(HTTPError):
    """401: no valid credentials."""

    status_code = 401


class ForbiddenError(HTTPError):
    """403: not allowed."""

    status_code = 403


class NotFoundError(HTTPError):
    """404: unknown model or resource."""

    status_code = 404


class MethodNotAllowedError(HTTPError):
    """405: the method does not apply to this path."""

    status_code = 405


class ConflictError(HTTPError):
    """409: conflicting state."""

    status_code = 409


class PayloadTooLargeError(HTTPError):
    """413: the body is over the limit."""

    status_code = 413


class UnprocessableEntityError(HTTPError):
    """422: well-formed but semantically invalid."""

    status_code = 422


class InternalServerError(HTTPError):
    """500: a server-side fault."""

    status_code = 500


class ServiceUnavailableError(HTTPError):
    """503: not ready, or the broker is unreachable."""

    status_code = 503


class GatewayTimeoutError(HTTPError):
    """504: no reply within the timeout."""

    status_code = 504


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception answers with: its own, else 400 as in MLRun."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status < 600:
        return status
    return 400


def describe(exc: BaseException) -> str:
    """`Class: message`, the text every error response carries."""
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "BadRequestError",
    "BrokerUnreachableError",
    "ConflictError",
    "DeployError",
    "ForbiddenError",
    "GatewayTimeoutError",
    "GraphError",
    "HTTPError",
    "InternalServerError",
    "InvocationError",
    "KafkaAccessError",
    "KafkaSecurityError",
    "ManifestError",
    "MethodNotAllowedError",
    "NotFoundError",
    "OutletError",
    "PayloadTooLargeError",
    "ServiceUnavailableError",
    "StreamgraphError",
    "StreamingError",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "describe",
    "status_of",
]
