"""A Faust app gets the credentials, as Faust's aiokafka driver turns them into its consumer's
and producer's arguments (`credentials_to_aiokafka_auth`, public), on streamgraph's lean app and
on Faust's stock one; no broker is reached. tests/cli/test_secured_cluster.py serves on a
secured broker with both."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from streamgraph.engines.kafka.faust_app import new_faust_app
from streamgraph.settings import Settings

SASL = {
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "alice",
    "sasl_plain_password": "faust-s3cret",
}


@pytest.mark.parametrize("lean", [True, False])
def test_the_consumer_and_producer_get_the_credentials(
    clean: pytest.MonkeyPatch, tmp_path: Path, lean: bool
) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="alice",
        kafka_sasl_password=SecretStr("faust-s3cret"),
        state_dir=tmp_path,
    )
    app = new_faust_app("sg-credentials", settings, lean, {})
    assert "faust-s3cret" not in repr(app.conf.broker_credentials)
    assert dict(credentials_to_aiokafka_auth(app.conf.broker_credentials)) == {
        **SASL,
        "ssl_context": None,  # SASL_PLAINTEXT
    }


def test_plaintext_leaves_faust_as_it_was(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = new_faust_app("sg-plain", Settings(state_dir=tmp_path), True, {})
    assert app.conf.broker_credentials is None
    assert dict(credentials_to_aiokafka_auth(app.conf.broker_credentials)) == {
        "security_protocol": "PLAINTEXT"
    }
