"""The client properties file of Confluent Cloud and MSK: what is read, ignored and refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgraph.connection.properties_file import parse_properties, read_properties
from streamgraph.errors import KafkaSecurityError

CONFLUENT_CLOUD = """\
# Required connection configs for Kafka producer, consumer, and admin
bootstrap.servers=pkc-abc12.us-east-1.aws.confluent.cloud:9092
security.protocol=SASL_SSL
sasl.mechanisms=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
    username='ABCDEFKEY' password='cc-s3cret/+==';
# Best practice for higher availability in librdkafka clients prior to 1.7
session.timeout.ms=45000
client.dns.lookup=use_all_dns_ips
"""

MSK_SCRAM = """\
bootstrap.servers = b-1.msk.example.com:9096,b-2.msk.example.com:9096
security.protocol: SASL_SSL
sasl.mechanism = SCRAM-SHA-512
sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required \
username="alice" password="msk-s3cret";
ssl.endpoint.identification.algorithm=
"""


def test_confluent_cloud_file(tmp_path: Path) -> None:
    props = parse_properties(CONFLUENT_CLOUD, tmp_path / "client.properties")
    assert props.bootstrap_servers == "pkc-abc12.us-east-1.aws.confluent.cloud:9092"
    assert (props.security_protocol, props.sasl_mechanism) == ("SASL_SSL", "PLAIN")
    assert props.sasl_username == "ABCDEFKEY"
    assert props.sasl_password is not None
    assert props.sasl_password.get_secret_value() == "cc-s3cret/+=="
    assert "cc-s3cret" not in repr(props)
    assert props.ssl_check_hostname is None  # not said: the default stands


def test_msk_scram_file(tmp_path: Path) -> None:
    props = parse_properties(MSK_SCRAM, tmp_path / "msk.properties")
    assert props.bootstrap_servers == "b-1.msk.example.com:9096,b-2.msk.example.com:9096"
    assert (props.security_protocol, props.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert props.sasl_username == "alice"
    assert props.sasl_password is not None
    assert props.sasl_password.get_secret_value() == "msk-s3cret"
    assert props.ssl_check_hostname is False  # Java's empty algorithm


def test_librdkafka_names_win_over_the_jaas_config_and_paths_are_the_files_own(
    tmp_path: Path,
) -> None:
    text = (
        "sasl.username=u1\nsasl.password=p1\nssl.ca.location=certs/ca.pem\n"
        "ssl.certificate.location=/abs/client.pem\nssl.key.location=client.key\n"
        "ssl.key.password=kp\nssl.endpoint.identification.algorithm=https\n"
        'sasl.jaas.config=x.y.PlainLoginModule required username="u2" password="p2";\n'
    )
    props = parse_properties(text, tmp_path / "c.properties")
    assert props.sasl_username == "u1"
    assert props.sasl_password is not None and props.sasl_password.get_secret_value() == "p1"
    assert props.ssl_cafile == tmp_path / "certs" / "ca.pem"
    assert props.ssl_certfile == Path("/abs/client.pem")
    assert props.ssl_keyfile == tmp_path / "client.key"
    assert props.ssl_check_hostname is True


def test_a_pem_truststore_is_the_ca_and_a_jks_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "trust.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    text = "ssl.truststore.location=trust.pem\nssl.truststore.type=PEM\n"
    assert parse_properties(text, tmp_path / "c.properties").ssl_cafile == tmp_path / "trust.pem"
    (tmp_path / "trust.jks").write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02")
    text = "ssl.truststore.location=trust.jks\nssl.truststore.password=store-s3cret\n"
    with pytest.raises(KafkaSecurityError, match=r"ssl.truststore.location .* is not PEM") as err:
        parse_properties(text, tmp_path / "c.properties")
    assert "store-s3cret" not in str(err.value)


def test_an_iam_login_module_is_refused_with_the_way_to_msk_iam(tmp_path: Path) -> None:
    text = (
        "sasl.mechanism=AWS_MSK_IAM\n"
        "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n"
    )
    with pytest.raises(KafkaSecurityError, match=r"sasl.jaas.config .*OAUTH_TOKEN_PROVIDER"):
        parse_properties(text, tmp_path / "c.properties")


def test_a_missing_file_is_refused_by_its_setting(tmp_path: Path) -> None:
    with pytest.raises(KafkaSecurityError, match=r"STREAMGRAPH_KAFKA_CONFIG_FILE=.*cannot be read"):
        read_properties(tmp_path / "nope.properties")
