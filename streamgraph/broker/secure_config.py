"""server.properties of a secured local broker: TLS listeners, SASL, the ACL authorizer.

Each node has three listeners, on 127.0.0.1:

    CLIENT      the protocol asked for (SSL, SASL_PLAINTEXT or SASL_SSL): what clients use
    INTERNAL    SSL, client certificate required: broker-to-broker replication
    CONTROLLER  SSL, client certificate required: KRaft quorum and broker registration

INTERNAL and CONTROLLER authenticate with the broker's own certificate (CN=broker), which the
mapping rule turns into User:broker, a super user: that is how the brokers and controllers get
past StandardAuthorizer with `allow.everyone.if.no.acl.found=false`, without making anonymous
connections (User:ANONYMOUS) privileged. The admin user is a super user too.

On a SASL CLIENT listener every mechanism is on: SCRAM-SHA-512 and SCRAM-SHA-256 (users made at
format time with `--add-scram`, or later through the admin API), PLAIN (the admin, in the JAAS
config) and OAUTHBEARER with Kafka's unsecured JWT validator (the default when no server
callback handler is set; principal = the token's `sub`). Secrets only go into
server.properties, which is written with mode 0600.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast, get_args

from streamgraph.broker.certificates import BROKER_NAME
from streamgraph.broker.config import NodeSpec
from streamgraph.broker.credentials import ADMIN_USER, Credentials

Security = Literal["ssl", "sasl_ssl", "sasl_plaintext"]
SECURITY_MODES: tuple[str, ...] = get_args(Security)

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER")
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# the subject DN "CN=alice" (ours carry nothing else) becomes the principal User:alice
PRINCIPAL_RULES = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"

_LOGIN_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule required",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule required",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule required",
    # the broker's own login needs a subject even though it never uses OAUTHBEARER as a client
    "OAUTHBEARER": (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        f'unsecuredLoginStringClaim_sub="{BROKER_NAME}"'
    ),
}


def parse_security(value: str | None) -> Security | None:
    """None, or one of SECURITY_MODES (case-insensitive); ValueError otherwise."""
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in SECURITY_MODES:
        raise ValueError(f"security {value!r}: use one of {', '.join(SECURITY_MODES)} or None")
    return cast(Security, lowered)


def protocol(security: Security) -> str:
    """Kafka's name of the client listener's protocol: SSL, SASL_PLAINTEXT or SASL_SSL."""
    return security.upper()


def uses_tls(security: Security) -> bool:
    return security in ("ssl", "sasl_ssl")


def uses_sasl(security: Security) -> bool:
    return security.startswith("sasl_")


def super_users() -> str:
    return f"User:{BROKER_NAME};User:{ADMIN_USER}"


def secured_properties(
    node: NodeSpec,
    cluster: Sequence[NodeSpec],
    security: Security,
    tls_dir: Path,
    credentials: Credentials,
) -> dict[str, str]:
    """The listener, TLS, SASL and authorizer settings of `node` (they replace the open ones)."""
    assert node.internal_port is not None, "a secured node needs an inter-broker port"
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster)
    client = f"CLIENT://127.0.0.1:{node.port}"
    internal = f"INTERNAL://127.0.0.1:{node.internal_port}"
    props = {
        "controller.quorum.voters": voters,
        "listeners": f"{client},{internal},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"{client},{internal}",
        "inter.broker.listener.name": "INTERNAL",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": (
            f"CLIENT:{protocol(security)},INTERNAL:SSL,CONTROLLER:SSL"
        ),
        # one key store (the broker's PEM key and certificate) and one trust store (the CA) for
        # every TLS listener, and for the broker's own connections to the other nodes
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls_dir / "broker.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls_dir / "ca.pem"),
        "ssl.principal.mapping.rules": PRINCIPAL_RULES,
        "listener.name.internal.ssl.client.auth": "required",
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": super_users(),
    }
    if security == "ssl":  # mutual TLS: the client certificate is the identity
        props["listener.name.client.ssl.client.auth"] = "required"
    if uses_sasl(security):
        props["listener.name.client.sasl.enabled.mechanisms"] = ",".join(MECHANISMS)
        for mechanism, module in _LOGIN_MODULES.items():
            options = ""
            if mechanism == "PLAIN":  # PLAIN's users live in the JAAS config itself
                options = f' user_{ADMIN_USER}="{credentials.password(ADMIN_USER)}"'
            key = f"listener.name.client.{mechanism.lower()}.sasl.jaas.config"
            props[key] = f"{module}{options};"
    return props


def scram_arguments(credentials: Credentials, users: Sequence[str]) -> list[str]:
    """`--add-scram` arguments of the storage tool: `users` for both SCRAM mechanisms.

    They hold passwords, so the caller puts them in a 0600 argument file, not on the command
    line (where `ps` would show them).
    """
    arguments = []
    for user in users:
        password = credentials.password(user)
        for mechanism in SCRAM_MECHANISMS:
            arguments += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    return arguments


#: Added to the broker's log4j2 config when secured: the dump of every setting, at INFO, so a
#: secured broker's log shows what it runs with (~2000 lines per start). Kafka prints
#: password-typed settings as [hidden] and leaves the listener-prefixed ones (our JAAS configs)
#: out of the dump; a test searches the log for every password to hold Kafka to that.
LOG4J2_CONFIG_DUMP = """\
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = INFO
"""


__all__ = [
    "AUTHORIZER",
    "DEFAULT_MECHANISM",
    "LOG4J2_CONFIG_DUMP",
    "MECHANISMS",
    "PRINCIPAL_RULES",
    "SCRAM_MECHANISMS",
    "SECURITY_MODES",
    "Security",
    "parse_security",
    "protocol",
    "scram_arguments",
    "secured_properties",
    "super_users",
    "uses_sasl",
    "uses_tls",
]
