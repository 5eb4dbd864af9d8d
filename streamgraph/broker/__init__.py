"""A local Apache Kafka for development and tests, run from Maven Central jars (no Docker).

Reading guide: `local_kafka.py` (LocalKafka, start with it), then `jars.py` (fetching the broker
once with Maven), `config.py` (server.properties of each KRaft node), `probe.py` (free ports and
readiness), `jvm_process.py` (starting and stopping JVMs by pid), `broker_records.py` and
`cli_commands.py` (`streamgraph kafka start|status|stop`), `docker.py` (the same broker from the
apache/kafka image) and `pytest_plugin.py` (the session fixture `kafka_broker`).
"""

from __future__ import annotations

from streamgraph.broker.config import DEFAULT_BOOTSTRAP, DEFAULT_PORT
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.jars import DEFAULT_VERSION, ensure_jars
from streamgraph.broker.local_kafka import LocalKafka

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "BrokerError",
    "LocalKafka",
    "ensure_jars",
]
