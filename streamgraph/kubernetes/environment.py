"""The settings as a ConfigMap, and the credentials as references to a Secret, never values.

The ConfigMap holds the non-secret `STREAMGRAPH_*` settings every process needs (brokers, topic
prefix, partitions, replication, processing guarantee, the non-secret Kafka security ones) and
any other setting set where `streamgraph manifests` ran. The credentials stay in a Secret the
operator makes (`kubectl create secret generic NAME --from-literal=...`), under these keys:

    STREAMGRAPH_KAFKA_SASL_USERNAME, STREAMGRAPH_KAFKA_SASL_PASSWORD   (PLAIN, SCRAM)
    STREAMGRAPH_KAFKA_SSL_KEY_PASSWORD                               (optional)
    ca.pem, client.crt, client.key                                   (files, mounted)

The username sits there too: KEDA's TriggerAuthentication reads only Secrets. The settings are
read with `settings_without_secrets`: no secret value is ever read, so none can be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ManifestError
from ..settings import Settings

__all__ = [
    "KAFKA_FILES_DIR",
    "STATE_DIR",
    "KafkaAccess",
    "config_data",
    "kafka_access",
    "secret_env",
]

STATE_DIR = "/var/lib/streamgraph"  # an emptyDir: Faust's data folder, the local state
KAFKA_FILES_DIR = "/etc/streamgraph/kafka"  # the Secret's certificate files, read-only

USERNAME = "STREAMGRAPH_KAFKA_SASL_USERNAME"
PASSWORD = "STREAMGRAPH_KAFKA_SASL_PASSWORD"
KEY_PASSWORD = "STREAMGRAPH_KAFKA_SSL_KEY_PASSWORD"
# setting -> the Secret's key holding the file
_FILES = {
    "kafka_ssl_cafile": "ca.pem",
    "kafka_ssl_certfile": "client.crt",
    "kafka_ssl_keyfile": "client.key",
}
# always written: what every process of the function must agree on
_ALWAYS = (
    "brokers",
    "topic_prefix",
    "partitions",
    "replication",
    "processing_guarantee",
    "dedicated_model_workers",
    "kafka_security_protocol",
)
# never written: this machine's paths and tools, the tests', deploy()'s own marker
_LOCAL = {
    "state_dir",
    "kafka_home",
    "java_home",
    "xdg_cache_home",
    "xdg_state_home",
    "test_brokers",
    "test_kafka",
    "deployed_process",
    "kafka_config_file",
    "kafka_sasl_username",  # in the Secret, with the password (see above)
    "keda_lag_threshold",  # read by the generator, not by the pods
    *_FILES,
}
_SASL_LOGIN = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaAccess:
    """How the pods (and KEDA) reach Kafka: TLS or not, the SASL mechanism, which files."""

    tls: bool
    sasl_mechanism: str | None
    files: dict[str, str]  # Secret key -> path in the pod

    @property
    def secured(self) -> bool:
        return self.tls or self.sasl_mechanism is not None

    @property
    def login(self) -> bool:
        """A username and password (PLAIN, SCRAM) come from the Secret."""
        return self.sasl_mechanism in _SASL_LOGIN


def kafka_access(settings: Settings) -> KafkaAccess:
    """The settings' Kafka security, or ManifestError for what a manifest cannot carry."""
    if settings.kafka_config_file is not None:
        raise ManifestError(
            "STREAMGRAPH_KAFKA_CONFIG_FILE is set: manifests carry STREAMGRAPH_KAFKA_* settings "
            "(ConfigMap) and a Secret's keys, not a properties file that holds passwords; set "
            "STREAMGRAPH_BROKERS and STREAMGRAPH_KAFKA_* instead"
        )
    protocol = settings.kafka_security_protocol.upper()
    sasl = settings.kafka_sasl_mechanism.upper() if settings.kafka_sasl_mechanism else None
    files = {
        key: f"{KAFKA_FILES_DIR}/{key}"
        for field, key in _FILES.items()
        if getattr(settings, field) is not None
    }
    return KafkaAccess(
        tls=protocol in ("SSL", "SASL_SSL"),
        sasl_mechanism=sasl if protocol.startswith("SASL_") else None,
        files=files,
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_data(settings: Settings, access: KafkaAccess) -> dict[str, str]:
    """The ConfigMap's data: `STREAMGRAPH_*` variables, none of them a secret."""
    fields = [*_ALWAYS, *sorted(settings.model_fields_set)]
    data = {}
    for field in dict.fromkeys(fields):
        info = Settings.model_fields[field]
        if field in _LOCAL or info.validation_alias is not None:
            continue
        value = getattr(settings, field)
        if value is None or type(value).__name__ == "SecretStr":
            continue  # unset, or a secret (settings_without_secrets leaves them unset anyway)
        data[f"STREAMGRAPH_{field.upper()}"] = _text(value)
    data["STREAMGRAPH_STATE_DIR"] = STATE_DIR
    for field, key in _FILES.items():
        if key in access.files:
            data[f"STREAMGRAPH_{field.upper()}"] = access.files[key]
    return data


def secret_env(access: KafkaAccess, secret: str) -> list[dict[str, Any]]:
    """`env` entries taking the credentials from the Secret `secret` by key."""

    def ref(name: str, optional: bool = False) -> dict[str, Any]:
        key_ref: dict[str, Any] = {"name": secret, "key": name}
        if optional:
            key_ref["optional"] = True
        return {"name": name, "valueFrom": {"secretKeyRef": key_ref}}

    env = [ref(USERNAME), ref(PASSWORD)] if access.login else []
    if "client.key" in access.files:  # an encrypted key's password, when the Secret has one
        env.append(ref(KEY_PASSWORD, optional=True))
    return env
