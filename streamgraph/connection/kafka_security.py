"""How every Kafka client connects: the one place that turns the settings into each client
library's security arguments.

`kafka_security(settings)` merges the STREAMGRAPH_KAFKA_* settings over the client properties
file (`kafka_config_file`), refuses a combination that cannot work (KafkaSecurityError, naming
the setting), and returns a `KafkaSecurity`, built once per Settings (its SSLContext too). Every
client is then made with its arguments: `**security.aiokafka_args()` for aiokafka,
`broker_credentials=security.faust_credentials()` for a Faust app,
`{..., **security.confluent_config()}` for confluent-kafka (tests/test_kafka_clients_secured.py
checks each construction site). With the default PLAINTEXT all three are empty: the clients run
exactly as before.

Secrets (the SASL password, the key password) stay in SecretStr until a client library takes
them; `repr` and `describe()` show the protocol, mechanism, username and file paths only.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..errors import KafkaSecurityError
from ..settings import Settings
from .log_redaction import redact_sasl_requests
from .properties_file import ClientProperties, read_properties
from .refusals import MECHANISMS, PROTOCOLS, check, where
from .token_provider import load_token_source, oauth_cb, token_provider

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = ["MECHANISMS", "PROTOCOLS", "KafkaSecurity", "kafka_security", "security_of_env"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, eq=False)
class KafkaSecurity:
    """The validated security of every Kafka client; `KafkaSecurity()` is PLAINTEXT."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    key_password: SecretStr | None = field(default=None, repr=False)
    check_hostname: bool = True
    token_source: str | None = None  # `module:callable` of the OAuth token
    config_file: Path | None = None
    token_callable: Callable[[], Any] | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context (SSL, SASL_SSL), made once; None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.cafile is not None:
            context.load_verify_locations(cafile=self.cafile)
        if self.certfile is not None:
            password = self.key_password.get_secret_value() if self.key_password else None
            context.load_cert_chain(self.certfile, self.keyfile, password)
        context.check_hostname = self.check_hostname
        return context

    @functools.cached_property
    def _aiokafka(self) -> Mapping[str, Any]:
        if self.protocol == "PLAINTEXT":
            return _EMPTY
        args: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            args["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            redact_sasl_requests()  # aiokafka logs a PLAIN password at DEBUG otherwise
            args["sasl_mechanism"] = self.mechanism
            if self.mechanism == "OAUTHBEARER":
                assert self.token_callable is not None  # (checked by kafka_security)
                args["sasl_oauth_token_provider"] = token_provider(self.token_callable)
            else:
                args["sasl_plain_username"] = self.username
                args["sasl_plain_password"] = _reveal(self.password)
        return MappingProxyType(args)

    def aiokafka_args(self) -> Mapping[str, Any]:
        """Keyword arguments of every aiokafka client (AIOKafkaProducer, AIOKafkaConsumer,
        AIOKafkaAdminClient, AIOKafkaClient): empty for PLAINTEXT. Holds the password: hand it
        to a client, never to a log."""
        return self._aiokafka

    def faust_credentials(self) -> CredentialsT | None:
        """A Faust app's `broker_credentials`: None (Faust's default) for PLAINTEXT. Faust's
        aiokafka driver hands them to its consumer and producer, whose client also creates
        the topics (faust/transport/drivers/aiokafka.py, `credentials_to_aiokafka_auth`)."""
        return self._faust

    @functools.cached_property
    def _faust(self) -> CredentialsT | None:
        from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials

        if self.protocol == "PLAINTEXT":
            return None
        if self.protocol == "SSL":
            assert self.ssl_context is not None
            return SSLCredentials(self.ssl_context)
        if self.mechanism == "OAUTHBEARER":
            assert self.token_callable is not None
            return OAuthCredentials(
                oauth_cb=token_provider(self.token_callable), ssl_context=self.ssl_context
            )
        redact_sasl_requests()  # aiokafka logs a PLAIN password at DEBUG otherwise
        # a context makes Faust's protocol SASL_SSL, none SASL_PLAINTEXT
        return SASLCredentials(
            username=self.username,
            password=_reveal(self.password),
            ssl_context=self.ssl_context,
            mechanism=self.mechanism,
        )

    @functools.cached_property
    def _confluent(self) -> Mapping[str, Any]:
        if self.protocol == "PLAINTEXT":
            return _EMPTY
        config: dict[str, Any] = {"security.protocol": self.protocol}
        if self.uses_sasl:
            config["sasl.mechanisms"] = self.mechanism
            if self.mechanism == "OAUTHBEARER":
                assert self.token_callable is not None
                config["oauth_cb"] = oauth_cb(self.token_callable)
            else:
                config["sasl.username"] = self.username
                config["sasl.password"] = _reveal(self.password)
        if self.uses_tls:
            for key, path in (
                ("ssl.ca.location", self.cafile),
                ("ssl.certificate.location", self.certfile),
                ("ssl.key.location", self.keyfile),
            ):
                if path is not None:
                    config[key] = str(path)
            if self.key_password is not None:
                config["ssl.key.password"] = _reveal(self.key_password)
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.check_hostname else "none"
            )
        return MappingProxyType(config)

    def confluent_config(self) -> Mapping[str, Any]:
        """librdkafka configuration of every confluent-kafka client: empty for PLAINTEXT."""
        return self._confluent

    def describe(self) -> str:
        """One line for people: protocol, mechanism, username and files; never a secret."""
        parts = [self.protocol]
        if self.uses_sasl:
            parts.append(f"mechanism {self.mechanism}")
        if self.username:
            parts.append(f"user {self.username}")
        if self.token_source:
            parts.append(f"token from {self.token_source}")
        for name, path in (("CA", self.cafile), ("cert", self.certfile), ("key", self.keyfile)):
            if path is not None:
                parts.append(f"{name} {path}")
        if self.uses_tls and not self.check_hostname:
            parts.append("host names not checked")
        if self.config_file is not None:
            parts.append(f"from {self.config_file}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"KafkaSecurity({self.describe()})"


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The security of `settings`' Kafka clients, built once per settings (equal settings
    share it: one SSLContext, one token provider per process). Raises KafkaSecurityError."""
    # equal settings may differ in which were set explicitly (and so win over the file)
    given = frozenset(n for n in settings.model_fields_set if n.startswith("kafka_"))
    return _built(settings, given)


@functools.lru_cache(maxsize=16)
def _built(settings: Settings, _given: frozenset[str]) -> KafkaSecurity:
    file = read_properties(settings.kafka_config_file) if settings.kafka_config_file else None
    security = _merged(settings, file)
    check(security)
    if security.uses_tls:
        _load_tls(security)
    return security


def security_of_env(env: Mapping[str, str]) -> KafkaSecurity:
    """The security the STREAMGRAPH_KAFKA_* variables of `env` describe, not this process's
    environment: the clients a local broker's own admin makes from its `client_env()`."""

    def get(name: str) -> str | None:
        return env.get(f"STREAMGRAPH_KAFKA_{name}") or None

    def path(name: str) -> Path | None:
        value = get(name)
        return Path(value) if value else None

    password = get("SASL_PASSWORD")
    security = KafkaSecurity(
        protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper(),
        mechanism=(get("SASL_MECHANISM") or "").strip().upper() or None,
        username=get("SASL_USERNAME"),
        password=SecretStr(password) if password else None,
        cafile=path("SSL_CAFILE"),
        certfile=path("SSL_CERTFILE"),
        keyfile=path("SSL_KEYFILE"),
    )
    check(security)
    if security.uses_tls:
        _load_tls(security)
    return security


def _merged(settings: Settings, file: ClientProperties | None) -> KafkaSecurity:
    """The settings over the file: a STREAMGRAPH_KAFKA_* variable that is set wins."""
    given = settings.model_fields_set

    def pick(name: str, from_file: Any) -> Any:
        value = getattr(settings, f"kafka_{name}")
        return value if f"kafka_{name}" in given or from_file is None else from_file

    def of_file(name: str) -> Any:
        return getattr(file, name) if file is not None else None

    protocol = pick("security_protocol", of_file("security_protocol"))
    mechanism = pick("sasl_mechanism", of_file("sasl_mechanism"))
    token_source = settings.kafka_oauth_token_provider
    return KafkaSecurity(
        protocol=str(protocol).strip().upper(),
        mechanism=str(mechanism).strip().upper() if mechanism else None,
        username=pick("sasl_username", of_file("sasl_username")),
        password=pick("sasl_password", of_file("sasl_password")),
        cafile=pick("ssl_cafile", of_file("ssl_cafile")),
        certfile=pick("ssl_certfile", of_file("ssl_certfile")),
        keyfile=pick("ssl_keyfile", of_file("ssl_keyfile")),
        key_password=pick("ssl_key_password", of_file("ssl_key_password")),
        check_hostname=pick("ssl_check_hostname", of_file("ssl_check_hostname")),
        token_source=token_source,
        config_file=settings.kafka_config_file,
        token_callable=load_token_source(token_source) if token_source else None,
    )


def _load_tls(security: KafkaSecurity) -> None:
    """Build the SSLContext now, so a bad PEM file is refused at start, by its setting."""
    try:
        security.ssl_context  # noqa: B018 - cached for every client
    except ssl.SSLError as exc:
        paths = [str(p) for p in (security.cafile, security.certfile, security.keyfile) if p]
        raise KafkaSecurityError(
            "STREAMGRAPH_KAFKA_SSL_CAFILE, _CERTFILE, _KEYFILE or _KEY_PASSWORD"
            f"{where(security)}: the TLS files ({', '.join(paths) or 'system CAs'}) do not "
            f"load: {exc.reason or type(exc).__name__}"
        ) from None
