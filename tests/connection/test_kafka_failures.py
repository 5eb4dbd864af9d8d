"""connection/kafka_failures.py: which client errors are access refusals, and their one line."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from aiokafka import errors as aioerrors
from confluent_kafka import KafkaError
from pydantic import SecretStr

from streamgraph.connection.kafka_failures import (
    access_error,
    confluent_access_error,
    hidden_note,
    is_access_failure,
)
from streamgraph.connection.kafka_security import KafkaSecurity
from streamgraph.connection.log_redaction import SaslRedaction
from streamgraph.errors import BrokerUnreachableError, KafkaAccessError

BROKERS = "kafka-1:9093"
SECRET = "s3cret-never-shown"
ALICE = KafkaSecurity(
    protocol="SASL_SSL",
    mechanism="SCRAM-SHA-512",
    username="alice",
    password=SecretStr(SECRET),
    cafile=Path("/etc/ca.pem"),
)


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code, error.verify_message = code, message
    return error


def test_a_refused_login_names_the_broker_mechanism_and_user() -> None:
    cause = aioerrors.SaslAuthenticationFailed("Authentication failed: invalid credentials")
    wrapped = aioerrors.KafkaConnectionError("Unable to bootstrap")
    wrapped.__cause__ = cause
    error = access_error(wrapped, BROKERS, ALICE)
    assert isinstance(error, KafkaAccessError) and isinstance(error, BrokerUnreachableError)
    assert error.kind == "authentication"
    line = str(error)
    assert "\n" not in line and SECRET not in line
    for word in (BROKERS, "refused the login", "mechanism SCRAM-SHA-512", "user alice"):
        assert word in line


@pytest.mark.parametrize(
    ("code", "message", "says"),
    [
        (20, "unable to get local issuer certificate", "not trusted"),
        (62, "Hostname mismatch, certificate is not valid for 'kafka-1'.", "does not name"),
        (64, "IP address mismatch, certificate is not valid for '10.0.0.2'.", "does not name"),
    ],
)
def test_certificate_failures(code: int, message: str, says: str) -> None:
    error = access_error(_verify_error(code, message), BROKERS, ALICE)
    assert error is not None and error.kind == "tls"
    assert says in str(error) and BROKERS in str(error) and "user alice" in str(error)


@pytest.mark.parametrize(
    ("exc", "resource"),
    [
        (aioerrors.TopicAuthorizationFailedError({"a.in", "a.out"}), "topic a.in, a.out"),
        (aioerrors.TopicAuthorizationFailedError("Cannot create topic: a.in (29)"), "topic a.in"),
        (aioerrors.GroupAuthorizationFailedError("sg.fn"), "group sg.fn"),
        (aioerrors.TransactionalIdAuthorizationFailed(), "the transactional id given"),
        (aioerrors.ClusterAuthorizationFailedError(), "the cluster"),
    ],
)  # fmt: skip
def test_acl_refusals_name_the_principal_and_resource(exc: Exception, resource: str) -> None:
    error = access_error(exc, BROKERS, ALICE, "the transactional id given")
    assert error is not None and error.kind == "authorization"
    assert "denied User:alice (SASL_SSL, mechanism SCRAM-SHA-512, user alice" in str(error)
    assert f"access to {resource}:" in str(error)


def test_what_is_not_an_access_refusal() -> None:
    for exc in (
        aioerrors.KafkaConnectionError("Unable to bootstrap"),
        aioerrors.KafkaTimeoutError(),
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
    ):
        assert access_error(exc, BROKERS, ALICE) is None
        assert not is_access_failure(exc)


def test_confluent_error_codes() -> None:
    login = confluent_access_error(KafkaError(KafkaError._AUTHENTICATION), BROKERS, ALICE)
    assert login is not None and login.kind == "authentication"
    refused = KafkaError(KafkaError._SSL, "certificate verify failed")
    tls = confluent_access_error(refused, BROKERS, ALICE)
    assert tls is not None and tls.kind == "tls"
    group = confluent_access_error(
        KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED), BROKERS, ALICE, "group g"
    )
    assert group is not None and "access to group g" in str(group)
    assert confluent_access_error(KafkaError(KafkaError._TRANSPORT), BROKERS, ALICE) is None


def test_a_hidden_topic_note_only_on_secured_clusters() -> None:
    assert hidden_note(KafkaSecurity()) == ""
    assert "User:alice" in hidden_note(ALICE) and "may not describe it" in hidden_note(ALICE)


def test_sasl_requests_are_redacted_in_debug_lines() -> None:
    class SaslAuthenticateRequest_v1:
        def __repr__(self) -> str:
            return f"SaslAuthenticateRequest_v1(sasl_auth_bytes=b'alice\\x00alice\\x00{SECRET}')"

    record = logging.LogRecord(
        "aiokafka.conn", logging.DEBUG, __file__, 1, "Request to %s:%d %d: %s",
        ("kafka-1", 9093, 3, SaslAuthenticateRequest_v1()), None,
    )  # fmt: skip
    assert SaslRedaction().filter(record)
    assert SECRET not in record.getMessage()
    assert "SaslAuthenticateRequest_v1(<redacted>)" in record.getMessage()
