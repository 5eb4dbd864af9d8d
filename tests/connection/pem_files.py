"""Throwaway PEM files for the connection tests: a CA, a client certificate signed by it, and
the client's key in the clear and encrypted, made with the `openssl` CLI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

KEY_PASSWORD = "pem-key-s3cret"


@dataclass(frozen=True)
class Pem:
    ca: Path
    cert: Path
    key: Path
    encrypted_key: Path  # the same key under KEY_PASSWORD


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pem(d: Path) -> Pem:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=sg-test-ca", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out",
             "client.csr", "-subj", "/CN=sg-client", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", "2", cwd=d)  # fmt: skip
    _openssl("pkey", "-in", "client.key", "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
             "-out", "client.enc.key", cwd=d)  # fmt: skip
    return Pem(d / "ca.pem", d / "client.pem", d / "client.key", d / "client.enc.key")
