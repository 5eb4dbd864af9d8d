"""What Kafka security cannot work: each refusal names the STREAMGRAPH_KAFKA_* setting (and the
properties file when one is given) and never the value of a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import KafkaSecurityError

if TYPE_CHECKING:  # kafka_security.py imports this module to check what it built
    from .kafka_security import KafkaSecurity

__all__ = ["MECHANISMS", "PROTOCOLS", "check", "where"]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


def where(security: KafkaSecurity) -> str:
    return f" (or in {security.config_file})" if security.config_file else ""


def check(security: KafkaSecurity) -> None:
    """Refuse what cannot work, naming the setting (and never a value that may be secret)."""
    also = where(security)
    if security.protocol not in PROTOCOLS:
        raise KafkaSecurityError(
            f"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL{also} is {security.protocol!r}: expected one "
            f"of {', '.join(PROTOCOLS)}"
        )
    if security.uses_sasl:
        if security.mechanism is None:
            raise KafkaSecurityError(
                f"STREAMGRAPH_KAFKA_SASL_MECHANISM{also} is needed with {security.protocol}: "
                f"one of {', '.join(MECHANISMS)}"
            )
        if security.mechanism not in MECHANISMS:
            raise KafkaSecurityError(
                f"STREAMGRAPH_KAFKA_SASL_MECHANISM{also} is {security.mechanism!r}: expected "
                f"one of {', '.join(MECHANISMS)} (MSK IAM: OAUTHBEARER with "
                "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER)"
            )
        if security.mechanism == "OAUTHBEARER" and security.token_source is None:
            raise KafkaSecurityError(
                "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER (module:callable returning a token) is "
                "needed with the OAUTHBEARER mechanism"
            )
        if security.mechanism != "OAUTHBEARER":
            for name, value in (("USERNAME", security.username), ("PASSWORD", security.password)):
                if not value:
                    raise KafkaSecurityError(
                        f"STREAMGRAPH_KAFKA_SASL_{name}{also} is needed with the "
                        f"{security.mechanism} mechanism"
                    )
    elif security.mechanism is not None:
        raise KafkaSecurityError(
            f"STREAMGRAPH_KAFKA_SASL_MECHANISM{also} is set but "
            f"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL is {security.protocol}: use SASL_PLAINTEXT "
            "or SASL_SSL"
        )
    check_files(security, also)


def check_files(security: KafkaSecurity, also: str) -> None:
    if (security.certfile is None) != (security.keyfile is None):
        given, missing = ("CERTFILE", "KEYFILE")
        if security.certfile is None:
            given, missing = missing, given
        raise KafkaSecurityError(
            f"STREAMGRAPH_KAFKA_SSL_{given}{also} is set without STREAMGRAPH_KAFKA_SSL_{missing}"
        )
    files = {"CAFILE": security.cafile, "CERTFILE": security.certfile}
    files["KEYFILE"] = security.keyfile
    for name, path in files.items():
        if path is None:
            continue
        if not security.uses_tls:
            raise KafkaSecurityError(
                f"STREAMGRAPH_KAFKA_SSL_{name}{also} is set but "
                f"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL is {security.protocol}: use SSL or SASL_SSL"
            )
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise KafkaSecurityError(
                f"STREAMGRAPH_KAFKA_SSL_{name}{also}: {path} cannot be read ({exc.strerror})"
            ) from None
