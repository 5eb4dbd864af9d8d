"""A local Apache Kafka for development and tests, run from Maven Central jars (no Docker).

Reading guide: `local_kafka.py` (LocalKafka, start with it), then `jars.py` (fetching the broker
once with Maven), `config.py` (server.properties of each KRaft node), `probe.py` (free ports and
readiness), `jvm_process.py` (starting and stopping JVMs by pid), `broker_records.py` and
`cli_commands.py` (`streamgraph kafka start|status|stop`), `docker.py` (the same broker from the
apache/kafka image) and `pytest_plugin.py` (the session fixture `kafka_broker`). A secured
broker (`LocalKafka(security=...)`): `broker_security.py` (what LocalKafka asks at each step),
`secure_config.py` (its listeners, SASL and authorizer),
`certificates.py` (its CA), `credentials.py` (its users), `secure_clients.py` (client variables,
admin calls) and `acls.py` (the typed ACL that `grant` and `revoke` take).
"""

from __future__ import annotations

from streamgraph.broker.acls import Acl, topic_access
from streamgraph.broker.config import DEFAULT_BOOTSTRAP, DEFAULT_PORT
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.jars import DEFAULT_VERSION, ensure_jars
from streamgraph.broker.local_kafka import LocalKafka

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "Acl",
    "BrokerError",
    "LocalKafka",
    "ensure_jars",
    "topic_access",
]
