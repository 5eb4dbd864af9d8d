"""PEM certificates for a secured local broker: a CA, the broker's certificate, client ones.

Kafka reads PEM key stores directly (`ssl.keystore.type=PEM`), so no Java keytool or password
protected JKS file is needed. Every file lives in the broker's data folder under `tls/`:

    ca.pem                 the CA certificate (what clients trust; ca-key.pem signs new clients)
    broker.pem             the broker's PKCS#8 key followed by its certificate (its key store)
    client-NAME.pem        the certificate of user NAME (CN=NAME: the mTLS principal User:NAME)
    client-NAME-key.pem    its PKCS#8 key

Key files are created with mode 0600 (never readable by others, even for a moment). The broker's
certificate names both 127.0.0.1 and localhost, and it is also a client certificate: the broker
presents it on the controller and inter-broker listeners, where it is the principal User:broker.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography loads when a certificate is made (18 MB every process paid)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

#: The CN of the broker's certificate, hence its principal (User:broker) under the mapping rule.
BROKER_NAME = "broker"
# long enough for a development broker to outlive any certificate worry, short enough to matter
_VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class ClientFiles:
    """The files a mutual-TLS client presents: its certificate and its private key."""

    certfile: Path
    keyfile: Path


class CertificateAuthority:
    """The CA of one broker's `tls/` folder; made on first use, reused by every later start."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_path = folder / "ca.pem"
        self.broker_path = folder / "broker.pem"
        self._key_path = folder / "ca-key.pem"

    def ensure(self) -> None:
        """Create the CA and the broker's key store unless they exist already."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        if not (self.ca_path.is_file() and self._key_path.is_file()):
            key = _new_key()
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "streamgraph local CA")])
            cert = (
                _builder(name, name, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(ca=True), critical=True)
                .sign(key, hashes.SHA256())
            )
            _write_secret(self._key_path, _key_pem(key))
            self.ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if not self.broker_path.is_file():
            broker_key, broker_cert = self._issue(BROKER_NAME, server=True)
            _write_secret(self.broker_path, _key_pem(broker_key) + broker_cert)

    def client(self, name: str) -> ClientFiles:
        """The certificate and key of user `name` (CN=name), issued on first use."""
        files = ClientFiles(
            self.folder / f"client-{name}.pem", self.folder / f"client-{name}-key.pem"
        )
        if not (files.certfile.is_file() and files.keyfile.is_file()):
            key, cert = self._issue(name, server=False)
            _write_secret(files.keyfile, _key_pem(key))
            files.certfile.write_bytes(cert)
        return files

    def _issue(self, name: str, *, server: bool) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        key = _new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = _builder(subject, ca_cert.subject, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            names: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = (
            builder.add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        return key, cert.public_bytes(serialization.Encoding.PEM)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: fast to make (RSA-2048 takes ~0.1 s per key) and accepted by the JVM and OpenSSL
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # a minute back: a JVM whose clock is a little behind still accepts a fresh certificate
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Kafka's PEM key store reads unencrypted keys only in PKCS#8 ("BEGIN PRIVATE KEY")
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_secret(path: Path, data: bytes) -> None:
    """Write `data` to a file created with mode 0600 (no window where others may read it)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def write_secret_text(path: Path, text: str) -> None:
    """Write `text` to a new file of mode 0600 (credentials, env files, server.properties)."""
    _write_secret(path, text.encode())


__all__ = ["BROKER_NAME", "CertificateAuthority", "ClientFiles", "write_secret_text"]
