"""Throwaway PEM files for the connection tests: a CA, a client certificate signed by it, and
the client's key in the clear and encrypted, made by the secured local broker's own CA
(streamgraph/broker/certificates.py), so no `openssl` CLI is needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from streamgraph.broker.certificates import CertificateAuthority

KEY_PASSWORD = "pem-key-s3cret"


@dataclass(frozen=True)
class Pem:
    ca: Path
    cert: Path
    key: Path
    encrypted_key: Path  # the same key under KEY_PASSWORD


def make_pem(d: Path) -> Pem:
    authority = CertificateAuthority(d)
    authority.ensure()
    client = authority.client("sg-client")
    key = serialization.load_pem_private_key(client.keyfile.read_bytes(), password=None)
    encrypted = d / "client.enc.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    return Pem(authority.ca_path, client.certfile, client.keyfile, encrypted)
