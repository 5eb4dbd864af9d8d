"""The one error the local broker raises: it could not fetch, start or stop Kafka."""

from __future__ import annotations

from streamgraph.errors import StreamgraphError


class BrokerError(StreamgraphError, RuntimeError):
    """The local Kafka could not be fetched, started or stopped.

    `log_tail` holds the last lines the broker (or Maven, or the storage tool) printed, so a
    failing test or CLI call shows why without anyone opening a log file.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail

    def __str__(self) -> str:
        message = super().__str__()
        if not self.log_tail:
            return message
        return f"{message}\n--- last log lines ---\n{self.log_tail}"


__all__ = ["BrokerError"]
