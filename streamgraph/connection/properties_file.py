"""The Kafka client properties file Confluent Cloud and MSK hand out (`kafka_config_file`).

Both librdkafka's names (`sasl.mechanisms`, `ssl.ca.location`) and Java's (`sasl.mechanism`,
`sasl.jaas.config=...LoginModule required username="..." password="...";`, a PEM
`ssl.truststore.location`) are read. Keys streamgraph does not use (`session.timeout.ms`,
`client.dns.lookup`...) are ignored; a value it cannot honour (a JKS trust store) is refused.
Relative paths are taken from the file's own folder. Refusals name the file and the key, never
a value that may be a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ..errors import KafkaSecurityError

__all__ = ["ClientProperties", "bootstrap_servers_of", "parse_properties", "read_properties"]

# `key=value`, `key: value` or `key value` (java.util.Properties), the key ending at the first
# unescaped separator
_SEPARATOR = re.compile(r"\s*[=:]\s*|\s+")
# a JAAS option: name="value" or name='value' (Confluent hands out both)
_JAAS_OPTION = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_PEM_MARK = b"-----BEGIN"


@dataclass(frozen=True)
class ClientProperties:
    """What a properties file says about connecting; None where it says nothing."""

    source: Path
    bootstrap_servers: str | None = None
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool | None = None


def _lines(text: str) -> list[str]:
    """Logical lines: comments and blanks dropped, `\\`-continued lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip() if not pending else raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    return logical


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in _lines(text):
        parts = _SEPARATOR.split(line, maxsplit=1)
        pairs[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return pairs


def _jaas(config: str, source: Path) -> tuple[str | None, SecretStr | None]:
    """username and password of `sasl.jaas.config`, when its login module takes them."""
    module = config.split(None, 1)[0] if config.split() else ""
    if module.rsplit(".", 1)[-1] == "OAuthBearerLoginModule":
        return None, None  # the token comes from kafka_oauth_token_provider
    if module.rsplit(".", 1)[-1] not in ("PlainLoginModule", "ScramLoginModule"):
        raise KafkaSecurityError(
            f"{source}: sasl.jaas.config uses the login module {module or '(none)'}; "
            "streamgraph takes PlainLoginModule, ScramLoginModule or OAuthBearerLoginModule "
            "(for MSK IAM, set STREAMGRAPH_KAFKA_SASL_MECHANISM=OAUTHBEARER and "
            "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER)"
        )
    options = {m[1]: m[2] if m[2] is not None else m[3] for m in _JAAS_OPTION.finditer(config)}
    password = options.get("password")
    return options.get("username"), SecretStr(password) if password is not None else None


def _pem_store(pairs: dict[str, str], kind: str, source: Path) -> Path | None:
    """A Java trust or key store, accepted only when it is PEM (Kafka's `type=PEM`)."""
    location = pairs.get(f"ssl.{kind}.location")
    if not location:
        return None
    path = _path(location, source)
    declared = pairs.get(f"ssl.{kind}.type", "").upper()
    try:
        with path.open("rb") as file:
            is_pem = _PEM_MARK in file.read(64 * 1024)
    except OSError as exc:
        raise KafkaSecurityError(
            f"{source}: ssl.{kind}.location {path} cannot be read ({exc.strerror})"
        ) from None
    if declared not in ("", "PEM") or not is_pem:
        raise KafkaSecurityError(
            f"{source}: ssl.{kind}.location {path} is not PEM ({declared or 'JKS'}): streamgraph "
            "reads PEM files only; convert it (keytool -exportcert -rfc, or openssl pkcs12) and "
            "give it as ssl.ca.location / ssl.certificate.location + ssl.key.location"
        )
    return path


def _path(value: str, source: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else source.parent / path


def parse_properties(text: str, source: Path) -> ClientProperties:
    """The connection properties of `text`, the content of the file `source`."""
    pairs = _pairs(text)
    username = pairs.get("sasl.username") or None
    password = SecretStr(pairs["sasl.password"]) if pairs.get("sasl.password") else None
    if pairs.get("sasl.jaas.config"):
        jaas_user, jaas_password = _jaas(pairs["sasl.jaas.config"], source)
        username, password = username or jaas_user, password or jaas_password
    cafile = _path(pairs["ssl.ca.location"], source) if pairs.get("ssl.ca.location") else None
    cafile = cafile or _pem_store(pairs, "truststore", source)
    certfile = pairs.get("ssl.certificate.location")
    keyfile = pairs.get("ssl.key.location")
    # a PEM key store holds the certificate and its key in one file
    keystore = _pem_store(pairs, "keystore", source) if not certfile else None
    algorithm = pairs.get("ssl.endpoint.identification.algorithm")
    key_password = pairs.get("ssl.key.password")
    return ClientProperties(
        source=source,
        bootstrap_servers=pairs.get("bootstrap.servers") or None,
        security_protocol=(pairs.get("security.protocol") or "").upper() or None,
        sasl_mechanism=(pairs.get("sasl.mechanisms") or pairs.get("sasl.mechanism") or None),
        sasl_username=username,
        sasl_password=password,
        ssl_cafile=cafile,
        ssl_certfile=_path(certfile, source) if certfile else keystore,
        ssl_keyfile=_path(keyfile, source) if keyfile else keystore,
        ssl_key_password=SecretStr(key_password) if key_password else None,
        # Java: an empty algorithm turns the check off; librdkafka: `none`
        ssl_check_hostname=None if algorithm is None else algorithm.lower() not in ("", "none"),
    )


def read_properties(path: Path) -> ClientProperties:
    """The file at `path`, parsed; a missing or unreadable one is refused by name."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise KafkaSecurityError(
            f"STREAMGRAPH_KAFKA_CONFIG_FILE={path} cannot be read ({why})"
        ) from None
    return parse_properties(text, path)


def bootstrap_servers_of(path: Path) -> str | None:
    """The file's bootstrap.servers, or None (also when it cannot be read: that is refused,
    with its reason, when the clients' security is built)."""
    try:
        return _pairs(path.read_text(encoding="utf-8")).get("bootstrap.servers") or None
    except (OSError, UnicodeDecodeError):
        return None
