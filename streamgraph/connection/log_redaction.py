"""No SASL secret in a log line, even at DEBUG.

aiokafka logs every request it sends at DEBUG (`aiokafka.conn`: "Request to HOST:PORT N: ..."),
and a SASL PLAIN login's request holds the password in the clear (`user\\0user\\0password`);
the SCRAM ones hold the client's nonce and proof. `redact_sasl_requests()`, called whenever a
SASL client is configured (kafka_security.py), puts a filter on that logger which replaces the
SASL requests and responses in such records by their class name.
"""

from __future__ import annotations

import logging

__all__ = ["SaslRedaction", "redact_sasl_requests"]

#: the logger aiokafka's connections log their requests on
CONNECTION_LOGGER = "aiokafka.conn"


class SaslRedaction(logging.Filter):
    """Replaces aiokafka's SASL request and response objects in a record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_is_sasl(a) for a in args):
            record.args = tuple(
                f"{type(a).__name__}(<redacted>)" if _is_sasl(a) else a for a in args
            )
        return True


def _is_sasl(value: object) -> bool:
    return type(value).__name__.startswith(("SaslAuthenticate", "SaslHandShake"))


_FILTER = SaslRedaction()


def redact_sasl_requests() -> None:
    """Put the redaction on aiokafka's connection logger (once per process)."""
    logger = logging.getLogger(CONNECTION_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
