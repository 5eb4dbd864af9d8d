"""Clients of a secured local broker: the environment a client needs, and admin calls.

`client_environment` writes the STREAMGRAPH_KAFKA_* variables of issue #21. The admin calls
(create a SCRAM user, create or delete ACLs) run through confluent-kafka's AdminClient as the
admin user, and the readiness probe's TLS context and aiokafka options come from here too, so
the broker package needs nothing from streamgraph's own client settings.
"""

from __future__ import annotations

import shlex
import ssl
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from streamgraph.broker.acls import Acl
from streamgraph.broker.certificates import CertificateAuthority, write_secret_text
from streamgraph.broker.credentials import ADMIN_USER
from streamgraph.broker.errors import BrokerError
from streamgraph.connection.kafka_security import security_of_env

BROKERS = "STREAMGRAPH_BROKERS"
PREFIX = "STREAMGRAPH_KAFKA_"
SECURITY_PROTOCOL = PREFIX + "SECURITY_PROTOCOL"
SASL_MECHANISM = PREFIX + "SASL_MECHANISM"
SASL_USERNAME = PREFIX + "SASL_USERNAME"
SASL_PASSWORD = PREFIX + "SASL_PASSWORD"
SSL_CAFILE = PREFIX + "SSL_CAFILE"
SSL_CERTFILE = PREFIX + "SSL_CERTFILE"
SSL_KEYFILE = PREFIX + "SSL_KEYFILE"
#: The variables that are secret: never printed (the CLI writes them to a 0600 file instead).
SECRET_VARIABLES = frozenset({SASL_PASSWORD})
_SCRAM_ITERATIONS = 8192


def client_environment(
    bootstrap_servers: str,
    security_protocol: str,
    *,
    cafile: str | None = None,
    mechanism: str | None = None,
    username: str | None = None,
    password: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> dict[str, str]:
    """The STREAMGRAPH_* variables of a client; None values are left out."""
    env = {
        BROKERS: bootstrap_servers,
        SECURITY_PROTOCOL: security_protocol,
        SSL_CAFILE: cafile,
        SSL_CERTFILE: certfile,
        SSL_KEYFILE: keyfile,
        SASL_MECHANISM: mechanism,
        SASL_USERNAME: username,
        SASL_PASSWORD: password,
    }
    return {key: value for key, value in env.items() if value is not None}


def probe_context(data_dir: Path, security: str) -> ssl.SSLContext | None:
    """The TLS context to probe the secured broker of `data_dir` with (None: no TLS).

    For `kafka status`, which has the broker's record and folder but no LocalKafka: the CA,
    plus the admin's client certificate where the listener requires one ("ssl").
    """
    if security not in ("ssl", "sasl_ssl"):
        return None
    ca = CertificateAuthority(data_dir / "tls")
    env = {SSL_CAFILE: str(ca.ca_path)}
    try:
        if security == "ssl":
            files = ca.client(ADMIN_USER)
            env.update({SSL_CERTFILE: str(files.certfile), SSL_KEYFILE: str(files.keyfile)})
        return tls_context(env)
    except OSError:  # the folder is gone or damaged: the probe then reports "not answering"
        return None


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """Write `env` as a shell file of mode 0600 (load it with `set -a; . FILE; set +a`)."""
    lines = [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    write_secret_text(path, "\n".join(lines) + "\n")


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """A client TLS context trusting the CA of `env`, with its client certificate if any."""
    context = ssl.create_default_context(cafile=env[SSL_CAFILE])
    if SSL_CERTFILE in env:
        context.load_cert_chain(env[SSL_CERTFILE], env[SSL_KEYFILE])
    return context


def aiokafka_options(env: Mapping[str, str]) -> dict[str, Any]:
    """aiokafka keyword arguments for `env` (the readiness probe's admin), from the one place
    that maps security settings to clients (connection/kafka_security.py)."""
    return dict(security_of_env(env).aiokafka_args())


def create_scram_user(
    admin_env: Mapping[str, str],
    user: str,
    password: str,
    mechanisms: Iterable[str],
    timeout: float = 15.0,
) -> None:
    """Create (or reset) the SCRAM credentials of `user`, as the admin of `admin_env`."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    with _admin(admin_env) as admin:
        # one request per mechanism: Kafka refuses two changes of one user in one request
        for mechanism in mechanisms:
            info = ScramCredentialInfo(
                ScramMechanism[mechanism.replace("-", "_")], _SCRAM_ITERATIONS
            )
            upsert = UserScramCredentialUpsertion(user, info, password.encode())
            futures = admin.alter_user_scram_credentials([upsert], request_timeout=timeout)
            _wait(futures.values(), timeout, f"could not create the SCRAM user {user!r}")


def create_acls(admin_env: Mapping[str, str], acls: Iterable[Acl], timeout: float = 15.0) -> None:
    """Create ACL bindings, as the admin of `admin_env` (existing ones are left as they are)."""
    bindings = [acl.binding() for acl in acls]
    if bindings:
        with _admin(admin_env) as admin:
            futures = admin.create_acls(bindings, request_timeout=timeout)
            _wait(futures.values(), timeout, "could not create ACLs")


def delete_acls(admin_env: Mapping[str, str], acls: Iterable[Acl], timeout: float = 15.0) -> None:
    """Delete the ACL bindings that match `acls` exactly (missing ones are no error)."""
    filters = [acl.filter() for acl in acls]
    if filters:
        with _admin(admin_env) as admin:
            futures = admin.delete_acls(filters, request_timeout=timeout)
            _wait(futures.values(), timeout, "could not delete ACLs")


class _admin:
    """An AdminClient as a context manager (it has no close; dropping it ends its threads)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from confluent_kafka.admin import AdminClient  # late: the CLI starts faster

        config = {"bootstrap.servers": env[BROKERS]}
        self.client = AdminClient({**config, **security_of_env(env).confluent_config()})

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc_info: object) -> None:
        del self.client


def _wait(futures: Iterable[Future[Any]], timeout: float, what: str) -> None:
    for future in futures:
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            # KafkaException text names the error code and broker message, never credentials
            raise BrokerError(f"{what}: {exc}") from exc


__all__ = [
    "BROKERS",
    "SASL_MECHANISM",
    "SASL_PASSWORD",
    "SASL_USERNAME",
    "SECRET_VARIABLES",
    "SECURITY_PROTOCOL",
    "SSL_CAFILE",
    "SSL_CERTFILE",
    "SSL_KEYFILE",
    "aiokafka_options",
    "client_environment",
    "create_acls",
    "create_scram_user",
    "delete_acls",
    "probe_context",
    "tls_context",
    "write_env_file",
]
