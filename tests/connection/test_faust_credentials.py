"""A Faust app's credentials reach its consumer and producer (whose client creates topics), on
streamgraph's lean app and on Faust's stock one; no broker is reached."""

from __future__ import annotations

from pathlib import Path

import pytest
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
async def test_the_consumer_and_producer_get_the_credentials(
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
    assert {k: v for k, v in app.producer._settings_auth().items() if k in SASL} == SASL
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        client = consumer._client
        assert (client._security_protocol, client._sasl_mechanism) == (
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
        )
        assert (client._sasl_plain_username, client._sasl_plain_password) == (
            "alice",
            "faust-s3cret",
        )
    finally:
        await consumer.stop()


async def test_plaintext_leaves_faust_as_it_was(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = new_faust_app("sg-plain", Settings(state_dir=tmp_path), True, {})
    assert app.conf.broker_credentials is None
    assert app.producer._settings_auth() == {"security_protocol": "PLAINTEXT"}
