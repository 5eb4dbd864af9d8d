"""A worker that Kafka refuses ends at once, saying why in one line, and commits nothing.

Without this, a worker whose login, TLS certificate or ACLs are wrong either ended with a
traceback (a refused login, a topic it may not create) or waited forever, silently: aiokafka
keeps a refused consumer group (GroupAuthorizationFailedError) for the caller of its own
`getmany`, which Faust never calls (it reads the fetcher directly), and its coordinator stops
there. The three places where a refusal shows up in a LeanApp worker ask
connection/kafka_failures.py and end the worker with the line it gives:

- `preflight`, as the app first starts: one bootstrap (wire/reach.py), for a refused login or
  TLS handshake, before Faust's producer and consumer start (`faust -A` does no check of its
  own; `streamgraph worker` checked already, before loading anything);
- `LeanTransport._create_topic` (transport.py): a topic the principal may not create;
- `watch_group` (consumer_thread.py), every `WATCH_SECONDS` in the consumer's thread: the error
  aiokafka's group coordinator holds for the user, such as a refused group.

`fail_worker` logs the line and, in a worker process (`app.in_worker`), ends it with status 1 at
once: no stop, so no commit. Offsets are committed only for records a step finished
(at_least_once), so nothing taken is lost: whatever was not committed is read again by the next
worker. Outside a worker process (the test harness) the line is logged and the error raised
where it arose (the group watch just stops).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ...connection.kafka_failures import access_error
from ...connection.kafka_security import KafkaSecurity
from ...errors import BrokerUnreachableError, KafkaAccessError
from ...wire.reach import check_reachable

__all__ = ["EXIT_REFUSED", "WATCH_SECONDS", "fail_worker", "pending_refusal", "preflight"]

logger = logging.getLogger("streamgraph.kafka")

#: the exit status of a worker Kafka refused
EXIT_REFUSED = 1
#: how often the consumer's thread looks for an error its group coordinator holds
WATCH_SECONDS = 0.5
#: the preflight's bootstrap bound; an unreachable broker is left to Faust's own retries
PREFLIGHT_TIMEOUT = 10.0


def fail_worker(app: Any, error: KafkaAccessError) -> None:
    """Log `error`'s one line; in a worker process exit now (status 1, nothing committed),
    else return (the caller raises it)."""
    in_worker = getattr(app, "in_worker", False)
    logger.error("%s%s", error, "; the worker stops" if in_worker else "")
    if in_worker:
        logging.shutdown()
        os._exit(EXIT_REFUSED)


async def preflight(app: Any, brokers: str, security: KafkaSecurity) -> None:
    """In a worker process, before its clients start: end it if Kafka refuses the login or
    the TLS handshake. (The test harness checks the broker itself.)"""
    if not getattr(app, "in_worker", False):
        return
    try:
        await check_reachable(brokers, "", PREFLIGHT_TIMEOUT, security=security)
    except KafkaAccessError as error:
        fail_worker(app, error)
        raise
    except BrokerUnreachableError as exc:  # Faust retries, and the stop deadline bounds it
        logger.warning("%s", exc)


def pending_refusal(
    consumer: Any, brokers: str, security: KafkaSecurity, group: str
) -> KafkaAccessError | None:
    """The access refusal an aiokafka consumer's group coordinator holds for its user, if any
    (read, not taken: its other errors stay where they are)."""
    coordinator = getattr(consumer, "_coordinator", None)
    pending = getattr(coordinator, "_pending_exception", None)
    if pending is None:
        return None
    return access_error(pending, brokers, security, f"group {group}")
