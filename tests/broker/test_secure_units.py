"""The secured broker's parts that need no JVM: properties, certificates, users, ACLs, tokens."""

from __future__ import annotations

import base64
import json
import os
import ssl
import stat
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType
from cryptography import x509

from streamgraph.broker import broker_records, secure_clients
from streamgraph.broker.acls import Acl, topic_access
from streamgraph.broker.certificates import CertificateAuthority
from streamgraph.broker.config import NodeSpec, server_properties
from streamgraph.broker.credentials import Credentials, unsecured_jwt
from streamgraph.broker.secure_config import parse_security, scram_arguments, secured_properties


def _node(tmp_path: Path) -> NodeSpec:
    return NodeSpec(1, 9001, 9002, tmp_path / "node-1", internal_port=9003)


@pytest.mark.parametrize("security", ["ssl", "sasl_ssl", "sasl_plaintext"])
def test_secured_listeners_authorizer_and_super_users(tmp_path: Path, security: str) -> None:
    node, credentials = _node(tmp_path), Credentials(tmp_path / "credentials.json")
    mode = parse_security(security)
    assert mode is not None
    props = server_properties(node, [node])
    props.update(secured_properties(node, [node], mode, tmp_path / "tls", credentials))
    assert props["listener.security.protocol.map"] == (
        f"CLIENT:{security.upper()},INTERNAL:SSL,CONTROLLER:SSL"
    )
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9001,INTERNAL://127.0.0.1:9003"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["listener.name.internal.ssl.client.auth"] == "required"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:broker;User:admin"  # never User:ANONYMOUS
    assert "ANONYMOUS" not in json.dumps(props)
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    sasl = security.startswith("sasl_")
    assert ("listener.name.client.ssl.client.auth" in props) is (security == "ssl")
    mechanisms = props.get("listener.name.client.sasl.enabled.mechanisms")
    assert mechanisms == ("SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER" if sasl else None)
    if sasl:
        jaas = props["listener.name.client.plain.sasl.jaas.config"]
        assert f'user_admin="{credentials.password("admin")}"' in jaas
        assert "handler" not in json.dumps(props)  # OAUTHBEARER: Kafka's unsecured validator


def test_unknown_security_is_refused() -> None:
    assert parse_security(None) is None
    assert parse_security("SASL_SSL") == "sasl_ssl"
    with pytest.raises(ValueError, match="use one of"):
        parse_security("kerberos")


def test_scram_arguments_cover_both_mechanisms(tmp_path: Path) -> None:
    credentials = Credentials(tmp_path / "credentials.json")
    arguments = scram_arguments(credentials, ["admin"])
    password = credentials.password("admin")
    assert arguments == [
        "--add-scram",
        f"SCRAM-SHA-512=[name=admin,password={password}]",
        "--add-scram",
        f"SCRAM-SHA-256=[name=admin,password={password}]",
    ]


def test_passwords_are_random_kept_0600_and_redacted(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    first = Credentials(path)
    password = first.password("alice")
    assert password != first.password("bob") and len(password) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Credentials(path)
    assert again.password("alice") == password
    assert password not in repr(again)
    assert again.redact(f"failed for {password}") == "failed for [hidden]"
    with pytest.raises(ValueError):
        again.password("no spaces allowed")


def test_certificates_name_the_broker_and_users(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "tls")
    ca.ensure()
    broker = x509.load_pem_x509_certificate(ca.broker_path.read_bytes())
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert broker.subject.rfc4514_string() == "CN=broker"
    assert b"BEGIN PRIVATE KEY" in ca.broker_path.read_bytes()  # PKCS#8, as Kafka's PEM needs
    files = ca.client("alice")
    client = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    assert client.subject.rfc4514_string() == "CN=alice"
    for key in [ca.broker_path, files.keyfile, tmp_path / "tls" / "ca-key.pem"]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = ca.ca_path.read_bytes()
    CertificateAuthority(tmp_path / "tls").ensure()  # a restart reuses the CA
    assert ca.ca_path.read_bytes() == before


def test_an_acl_becomes_a_confluent_binding() -> None:
    acl = Acl("alice", "group", "billing-", "read", pattern="prefixed")
    assert acl.principal == "User:alice"
    binding = acl.binding()
    assert binding.restype == ResourceType.GROUP
    assert binding.resource_pattern_type == ResourcePatternType.PREFIXED
    assert binding.operation == AclOperation.READ
    assert Acl("bob", "cluster", "kafka-cluster", "describe").binding().restype == (
        ResourceType.BROKER  # librdkafka's name of Kafka's CLUSTER resource type
    )
    with pytest.raises(ValueError, match="kafka-cluster"):
        Acl("bob", "cluster", "mine", "alter")
    assert [a.operation for a in topic_access("u", "t", "g")] == [
        "read",
        "write",
        "describe",
        "read",
    ]


def test_the_unsecured_jwt_has_no_signature() -> None:
    header, payload, signature = unsecured_jwt("alice", 60).split(".")
    assert signature == ""

    def decode(part: str) -> dict[str, object]:
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))

    assert decode(header) == {"alg": "none"}
    claims = decode(payload)
    assert claims["sub"] == "alice"
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 60


def test_auto_discovery_leaves_secured_brokers_out(tmp_path: Path) -> None:
    # a record that counts as running (this very process), once open and once secured
    marker = Path(sys.argv[0]).name
    node = broker_records.NodeRecord(1, os.getpid(), 9092, marker, "")
    for key, security in [("kafka-open", ""), ("kafka-secured", "sasl_ssl")]:
        state = broker_records.BrokerState("4.4.0", "127.0.0.1:9092", [node], security=security)
        broker_records.save(tmp_path, key, state)
    assert [key for key, _ in broker_records.running_brokers(tmp_path)] == ["kafka-open"]
    assert broker_records.load(tmp_path, "kafka-secured") is not None  # status still sees it


def test_kafka_status_probes_tls_brokers_with_their_ca(tmp_path: Path) -> None:
    CertificateAuthority(tmp_path / "tls").ensure()
    assert secure_clients.probe_context(tmp_path, "") is None
    assert secure_clients.probe_context(tmp_path, "sasl_plaintext") is None
    context = secure_clients.probe_context(tmp_path, "ssl")  # mutual TLS: the admin's cert
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    assert (tmp_path / "tls" / "client-admin.pem").is_file()
    assert secure_clients.probe_context(tmp_path / "gone", "sasl_ssl") is None
