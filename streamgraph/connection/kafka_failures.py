"""Which Kafka failures are the client's own access: a refused login, an untrusted or mismatched
TLS certificate, a missing ACL. Each becomes one `KafkaAccessError` with a one-line message.

    error = access_error(exc, brokers, security)          # None: not an access failure
    if error is not None:
        raise error from None

A wrong password or certificate never gets better by retrying, and neither does an ACL nobody
grants while the client waits: the places that would retry (the gateway's connection loop,
Faust's consumer, a command's start) ask here first and stop with the line instead. The line
names the broker, `KafkaSecurity.describe()` (protocol, mechanism, user, files; never a secret)
and, for an ACL, the denied resource: "topic NAME", "group NAME", "transactional id NAME" or
"the cluster". aiokafka's errors, `ssl.SSLError`s and confluent-kafka's `KafkaError` codes are
all read here, and nowhere else.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any

from aiokafka import errors as aioerrors

from ..errors import KafkaAccessError
from .kafka_security import KafkaSecurity

__all__ = [
    "AUTHORIZATION_ERRORS",
    "access_error",
    "confluent_access_error",
    "denied",
    "hidden_note",
    "is_access_failure",
]

#: aiokafka's ACL refusals, with the kind of resource each names
AUTHORIZATION_ERRORS: dict[type[Exception], str] = {
    aioerrors.TopicAuthorizationFailedError: "topic",
    aioerrors.GroupAuthorizationFailedError: "group",
    aioerrors.TransactionalIdAuthorizationFailed: "transactional id",
    aioerrors.ClusterAuthorizationFailedError: "cluster",
}
_LOGIN_ERRORS = (
    aioerrors.SaslAuthenticationFailed,
    aioerrors.UnsupportedSaslMechanismError,
    aioerrors.IllegalSaslStateError,
)
# confluent-kafka (librdkafka) error codes: negative ones are the client's own
_CONFLUENT_LOGIN = {-169, 58, 33, 34}  # _AUTHENTICATION, SASL_AUTHENTICATION_FAILED, ...
_CONFLUENT_TLS = {-181}  # _SSL
_CONFLUENT_AUTHORIZATION = {29: "topic", 30: "group", 31: "cluster", 53: "transactional id"}
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = {62, 64}


def access_error(
    exc: BaseException | None,
    brokers: str,
    security: KafkaSecurity,
    resource: str | None = None,
) -> KafkaAccessError | None:
    """The KafkaAccessError `exc` (or an exception it wraps) is, else None. `resource`
    ("topic NAME", "group NAME") names what was asked for when the error itself does not."""
    for cause in _chain(exc):
        if isinstance(cause, KafkaAccessError):
            return cause
        if isinstance(cause, _LOGIN_ERRORS):
            return _login(brokers, security, _message(cause))
        if isinstance(cause, ssl.SSLError):
            return _tls(brokers, security, cause)
        kind = _authorization_kind(cause)
        if kind is not None:
            return _authorization(brokers, security, _resource(cause, kind) or resource)
    return None


def is_access_failure(exc: BaseException | None) -> bool:
    """Whether `exc` is a refusal no retry mends (login, TLS certificate, ACL)."""
    return access_error(exc, "", KafkaSecurity()) is not None


def confluent_access_error(
    error: Any, brokers: str, security: KafkaSecurity, resource: str | None = None
) -> KafkaAccessError | None:
    """The KafkaAccessError of a confluent-kafka `KafkaError` (its `code()`), else None."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    text = str(error.str() if callable(getattr(error, "str", None)) else error)
    if code in _CONFLUENT_LOGIN:
        return _login(brokers, security, text)
    if code in _CONFLUENT_TLS:
        return _tls_text(brokers, security, text, mismatch="mismatch" in text.lower())
    if code in _CONFLUENT_AUTHORIZATION:
        kind = _CONFLUENT_AUTHORIZATION[code]
        return _authorization(brokers, security, resource or _kind_only(kind))
    return None


def hidden_note(security: KafkaSecurity) -> str:
    """What to add where a topic was not found on a secured cluster: Kafka leaves out of its
    metadata the topics a principal may not describe, so a missing ACL looks like no topic.
    Empty for PLAINTEXT (no ACLs apply)."""
    if security.protocol == "PLAINTEXT":
        return ""
    return (
        f", or {_principal(security)} ({security.describe()}) may not describe it: Kafka "
        "hides the topics a principal has no ACL for"
    )


def denied(brokers: str, security: KafkaSecurity, resource: str) -> KafkaAccessError:
    """The error of an ACL refusal of `resource` ("topic NAME") found by other means (a topic
    the principal may not describe is absent from metadata, not refused)."""
    return _authorization(brokers, security, resource)


# -- the one-line messages ---------------------------------------------------------------------
def _login(brokers: str, security: KafkaSecurity, why: str) -> KafkaAccessError:
    who = security.describe()
    hint = "check STREAMGRAPH_KAFKA_SASL_USERNAME / _SASL_PASSWORD / _SASL_MECHANISM"
    if security.mechanism == "OAUTHBEARER":
        hint = "check the token STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER gives"
    line = f"Kafka at {brokers} refused the login ({who}): {why}; {hint}"
    return KafkaAccessError(brokers, "authentication", who, line)


def _tls(brokers: str, security: KafkaSecurity, exc: ssl.SSLError) -> KafkaAccessError:
    code = getattr(exc, "verify_code", None)
    why = getattr(exc, "verify_message", None) or exc.reason or str(exc)
    return _tls_text(brokers, security, str(why), mismatch=code in _NAME_MISMATCH)


def _tls_text(brokers: str, security: KafkaSecurity, why: str, mismatch: bool) -> KafkaAccessError:
    who = security.describe()
    why = why.rstrip(". ")
    if mismatch:
        line = (
            f"Kafka at {brokers}: its TLS certificate does not name the address connected to "
            f"({why}; {who}); connect by a host name the certificate lists"
        )
    elif "verify failed" in why or "issuer" in why or "self-signed" in why or "self signed" in why:
        line = (
            f"Kafka at {brokers}: its TLS certificate is not trusted ({why}; {who}); set "
            "STREAMGRAPH_KAFKA_SSL_CAFILE to the CA that signed the broker's certificate"
        )
    else:
        line = f"Kafka at {brokers}: the TLS handshake failed ({why}; {who})"
    return KafkaAccessError(brokers, "tls", who, line)


def _authorization(brokers: str, security: KafkaSecurity, resource: str | None) -> KafkaAccessError:
    who = security.describe()
    what = resource or "a resource"
    line = (
        f"Kafka at {brokers} denied {_principal(security)} ({who}) access to {what}: not "
        "authorized; grant it an ACL"
    )
    return KafkaAccessError(brokers, "authorization", who, line, resource)


def _principal(security: KafkaSecurity) -> str:
    if security.username:
        return f"User:{security.username}"
    if security.token_source:
        return "the OAuth principal"
    if security.certfile is not None:
        return f"the principal of certificate {security.certfile}"
    return "User:ANONYMOUS"


# -- reading the client libraries' errors ------------------------------------------------------
def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and exceptions carried in its args; each once."""
    seen: set[int] = set()
    todo = [exc] if exc is not None else []
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]


def _authorization_kind(exc: BaseException) -> str | None:
    for error_class, kind in AUTHORIZATION_ERRORS.items():
        if isinstance(exc, error_class):
            return kind
    return None


_NAMED = re.compile(r"(?:topic|group)s?:?\s+'?([\w.\-]+)'?", re.IGNORECASE)


def _resource(exc: BaseException, kind: str) -> str | None:
    """What an aiokafka authorization error names: a set of topics, a group id, or a message
    such as Faust's "Cannot create topic: NAME (29): ..."."""
    if kind == "cluster":
        return "the cluster"
    names: list[str] = []
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, set | frozenset | list | tuple):
            names += sorted(str(a) for a in arg)
        elif isinstance(arg, str) and arg:
            found = _NAMED.search(arg)
            if found:
                names.append(found.group(1))
            elif re.fullmatch(r"[\w.\-]+", arg):
                names.append(arg)
    if not names:
        return None
    return f"{kind} {', '.join(names)}"


def _kind_only(kind: str) -> str:
    return "the cluster" if kind == "cluster" else f"a {kind}"


def _message(exc: BaseException) -> str:
    """An aiokafka error's text without its class prefix ("[Error 58] X: ...")."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.strip().rstrip(".") or type(exc).__name__
