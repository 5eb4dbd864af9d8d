"""Is a Kafka broker there? One bootstrap request, answered or refused within a bound.

Commands and the test harness ask before they start their clients, so an unreachable broker is
one `BrokerUnreachableError` naming the address and what to do, rather than a client's traceback
and its unclosed-client warnings. A broker that answers but refuses the client (a wrong
password, an untrusted or mismatched TLS certificate) is a `KafkaAccessError` (one of them)
saying which (connection/kafka_failures.py): at once, where a client would retry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from ..connection.kafka_failures import access_error
from ..connection.kafka_security import KafkaSecurity
from ..errors import BrokerUnreachableError


async def check_reachable(
    brokers: str, where_from: str = "", timeout: float = 10.0, *, security: KafkaSecurity
) -> None:
    """Return once a broker at `brokers` answered a metadata request (with `security`: a
    secured broker refuses an unsecured client); else raise BrokerUnreachableError (after at
    most `timeout` seconds), KafkaAccessError when it refused the login or TLS handshake."""
    quiet = QuietBootstrap()  # the one line we raise says it all; aiokafka's would repeat it
    logging.getLogger("aiokafka").addFilter(quiet)
    client = AIOKafkaClient(
        bootstrap_servers=brokers,
        request_timeout_ms=int(timeout * 1000),
        client_id="streamgraph",
        **security.aiokafka_args(),
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        refused = access_error(quiet.last_error or exc, brokers, security)
        if refused is not None:
            raise refused from None
        if isinstance(exc, TimeoutError):
            detail = f"no answer within {timeout:g} s"
        else:
            detail = quiet.last or str(exc)
        raise BrokerUnreachableError(brokers, where_from, detail) from None
    finally:
        await client.close()
        logging.getLogger("aiokafka").removeFilter(quiet)


@contextlib.contextmanager
def refusals_raised(brokers: str, security: KafkaSecurity) -> Iterator[QuietBootstrap]:
    """Around the start of aiokafka clients: their "Unable connect to" lines are dropped, and
    an error that is (or follows) a refused login, TLS handshake or ACL is raised as the
    KafkaAccessError saying so (aiokafka's "Unable to bootstrap" error carries no cause)."""
    quiet = QuietBootstrap()
    client_log = logging.getLogger("aiokafka")
    client_log.addFilter(quiet)
    try:
        yield quiet
    except Exception as exc:
        refused = access_error(exc, brokers, security) or access_error(
            quiet.last_error, brokers, security
        )
        if refused is not None:
            raise refused from None
        raise
    finally:
        client_log.removeFilter(quiet)


class QuietBootstrap(logging.Filter):
    """On the `aiokafka` logger while a client bootstraps: drops its "Unable connect to ..."
    lines (the error raised says it once), keeping the last one's cause in `last` (its text)
    and `last_error` (the exception, for connection/kafka_failures.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.last = ""
        self.last_error: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Unable connect to"):
            args = record.args if isinstance(record.args, tuple) else ()
            self.last = str(args[-1]) if args else record.getMessage()
            if args and isinstance(args[-1], BaseException):
                self.last_error = args[-1]
            return False
        return True


__all__ = ["QuietBootstrap", "check_reachable", "refusals_raised"]
