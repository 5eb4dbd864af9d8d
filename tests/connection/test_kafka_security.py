"""`kafka_security(settings)`: merging, refusals, each library's arguments, and no secret shown."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from aiokafka.abc import AbstractTokenProvider
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from pem_files import KEY_PASSWORD, Pem
from pydantic import SecretStr

from streamgraph.connection.kafka_security import KafkaSecurity, kafka_security
from streamgraph.errors import KafkaSecurityError, StreamgraphError
from streamgraph.settings import Settings

PASSWORD = "sasl-s3cret-value"
SCRAM = {
    "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "STREAMGRAPH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "STREAMGRAPH_KAFKA_SASL_USERNAME": "alice",
    "STREAMGRAPH_KAFKA_SASL_PASSWORD": PASSWORD,
}


def _set(env: pytest.MonkeyPatch, variables: dict[str, str]) -> Settings:
    for name, value in variables.items():
        env.setenv(name, value)
    return Settings()


def test_plaintext_gives_every_library_nothing(clean: pytest.MonkeyPatch) -> None:
    security = kafka_security(Settings())
    assert security.protocol == "PLAINTEXT"
    assert dict(security.aiokafka_args()) == {}
    assert security.faust_credentials() is None
    assert dict(security.confluent_config()) == {}
    assert kafka_security(Settings()) is security  # built once per (equal) settings


def test_scram_over_plaintext(clean: pytest.MonkeyPatch) -> None:
    security = kafka_security(_set(clean, SCRAM))
    assert dict(security.aiokafka_args()) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": PASSWORD,
    }
    credentials = security.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("alice", PASSWORD)
    assert dict(security.confluent_config()) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": PASSWORD,
    }


def test_mutual_tls_from_pem_files(clean: pytest.MonkeyPatch, pem: Pem) -> None:
    settings = _set(
        clean,
        {
            "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "ssl",
            "STREAMGRAPH_KAFKA_SSL_CAFILE": str(pem.ca),
            "STREAMGRAPH_KAFKA_SSL_CERTFILE": str(pem.cert),
            "STREAMGRAPH_KAFKA_SSL_KEYFILE": str(pem.encrypted_key),
            "STREAMGRAPH_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
            "STREAMGRAPH_KAFKA_SSL_CHECK_HOSTNAME": "false",
        },
    )
    security = kafka_security(settings)
    context = security.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is False
    assert any(
        c["subject"] == ((("commonName", "streamgraph local CA"),),) for c in context.get_ca_certs()
    )
    assert dict(security.aiokafka_args()) == {"security_protocol": "SSL", "ssl_context": context}
    credentials = security.faust_credentials()
    assert isinstance(credentials, SSLCredentials) and credentials.context is context
    assert dict(security.confluent_config()) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pem.ca),
        "ssl.certificate.location": str(pem.cert),
        "ssl.key.location": str(pem.encrypted_key),
        "ssl.key.password": KEY_PASSWORD,
        "ssl.endpoint.identification.algorithm": "none",
    }
    assert KEY_PASSWORD not in repr(security) + security.describe() + repr(settings)


def test_a_wrong_key_password_is_refused_at_start(clean: pytest.MonkeyPatch, pem: Pem) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_certfile=pem.cert,
        kafka_ssl_keyfile=pem.encrypted_key,
        kafka_ssl_key_password=SecretStr("wrong-s3cret"),
    )
    with pytest.raises(KafkaSecurityError, match=r"STREAMGRAPH_KAFKA_SSL_CAFILE, .* do not load"):
        kafka_security(settings)


def test_the_file_with_the_environment_over_it(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "client.properties"
    file.write_text(
        "bootstrap.servers=pkc-1.confluent.cloud:9092\nsecurity.protocol=SASL_SSL\n"
        "sasl.mechanisms=PLAIN\nsasl.username=KEY\nsasl.password=file-s3cret\n"
    )
    settings = _set(clean, {"STREAMGRAPH_KAFKA_CONFIG_FILE": str(file)})
    assert settings.brokers == "pkc-1.confluent.cloud:9092" and settings.brokers_given
    security = kafka_security(settings)
    assert (security.protocol, security.mechanism, security.username) == (
        "SASL_SSL",
        "PLAIN",
        "KEY",
    )
    assert security.aiokafka_args()["sasl_plain_password"] == "file-s3cret"
    assert isinstance(security.aiokafka_args()["ssl_context"], ssl.SSLContext)  # system CAs
    # a STREAMGRAPH_ variable wins over the file, the brokers too
    settings = _set(
        clean,
        {
            "STREAMGRAPH_BROKERS": "10.0.0.1:9092",
            "STREAMGRAPH_KAFKA_SASL_USERNAME": "other",
            "STREAMGRAPH_KAFKA_SASL_PASSWORD": PASSWORD,
        },
    )
    security = kafka_security(settings)
    assert settings.brokers == "10.0.0.1:9092"
    assert (security.username, security.aiokafka_args()["sasl_plain_password"]) == (
        "other",
        PASSWORD,
    )
    assert security.protocol == "SASL_SSL"  # still the file's
    assert f"from {file}" in security.describe()


REFUSALS = [
    ({"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL"),
    ({"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "STREAMGRAPH_KAFKA_SASL_MECHANISM"),
    (
        {
            "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMGRAPH_KAFKA_SASL_MECHANISM": "GSSAPI",
        },
        "STREAMGRAPH_KAFKA_SASL_MECHANISM",
    ),
    ({**SCRAM, "STREAMGRAPH_KAFKA_SASL_USERNAME": ""}, "STREAMGRAPH_KAFKA_SASL_USERNAME"),
    ({**SCRAM, "STREAMGRAPH_KAFKA_SASL_PASSWORD": ""}, "STREAMGRAPH_KAFKA_SASL_PASSWORD"),
    (
        {**SCRAM, "STREAMGRAPH_KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
        "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER",
    ),
    (
        {
            **SCRAM,
            "STREAMGRAPH_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER": "no_such_module_42:token",
        },
        "STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER",
    ),
    (
        {**SCRAM, "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
        "STREAMGRAPH_KAFKA_SASL_MECHANISM",
    ),
    (
        {"STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SSL", "STREAMGRAPH_KAFKA_SSL_CERTFILE": "/c.pem"},
        "STREAMGRAPH_KAFKA_SSL_CERTFILE is set without STREAMGRAPH_KAFKA_SSL_KEYFILE",
    ),
    (
        {
            "STREAMGRAPH_KAFKA_SECURITY_PROTOCOL": "SSL",
            "STREAMGRAPH_KAFKA_SSL_CAFILE": "/no/ca.pem",
        },
        "STREAMGRAPH_KAFKA_SSL_CAFILE: /no/ca.pem cannot be read",
    ),
    ({"STREAMGRAPH_KAFKA_SSL_CAFILE": "/no/ca.pem"}, "STREAMGRAPH_KAFKA_SSL_CAFILE is set but"),
    ({"STREAMGRAPH_KAFKA_CONFIG_FILE": "/no/client.properties"}, "STREAMGRAPH_KAFKA_CONFIG_FILE"),
]


@pytest.mark.parametrize(("variables", "named"), REFUSALS)
def test_refusals_name_the_setting_and_no_secret(
    clean: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    settings = _set(clean, variables)
    with pytest.raises(KafkaSecurityError) as refused:
        kafka_security(settings)
    assert isinstance(refused.value, StreamgraphError)
    assert named in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_an_unknown_protocol_in_the_file_is_refused(
    clean: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    file = tmp_path / "c.properties"
    file.write_text("security.protocol=SASL_TLS\nsasl.password=file-s3cret\nlinger.ms=5\n")
    with pytest.raises(KafkaSecurityError, match=f"PROTOCOL \\(or in {file}\\) is 'SASL_TLS'"):
        kafka_security(Settings(kafka_config_file=file))


@pytest.mark.parametrize("provider", ["oauth_tokens:token", "oauth_tokens:async_token"])
def test_oauthbearer_through_a_token_callable(clean: pytest.MonkeyPatch, provider: str) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="oauthbearer",
        kafka_oauth_token_provider=provider,
    )
    security = kafka_security(settings)
    expected = "oauth-t0ken" + ("-async" if provider.endswith("async_token") else "")
    provider_of_aiokafka = security.aiokafka_args()["sasl_oauth_token_provider"]
    assert isinstance(provider_of_aiokafka, AbstractTokenProvider)
    assert asyncio.run(provider_of_aiokafka.token()) == expected
    credentials = security.faust_credentials()
    assert isinstance(credentials, OAuthCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    config = security.confluent_config()
    assert config["sasl.mechanisms"] == "OAUTHBEARER"
    token, expiry = config["oauth_cb"]("")
    assert token == expected and expiry > 0
    assert expected not in repr(security) and provider in security.describe()


def test_no_secret_in_reprs(clean: pytest.MonkeyPatch) -> None:
    settings = _set(clean, SCRAM)
    security = kafka_security(settings)
    shown = repr(settings) + str(settings) + repr(security) + security.describe()
    assert PASSWORD not in shown
    assert "SASL_PLAINTEXT" in security.describe() and "user alice" in security.describe()
    assert PASSWORD not in repr(KafkaSecurity(password=SecretStr(PASSWORD)))
    assert PASSWORD not in settings.model_dump_json()
