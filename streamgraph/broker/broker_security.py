"""The secured side of one LocalKafka: its CA and users, node settings, format step and clients.

LocalKafka(security=...) holds one BrokerSecurity and asks it at each step: which settings a
node gets (secure_config.py), how the storage tool is given the SCRAM users without showing
their passwords, what the readiness probe connects with, and what a client needs
(`client_env`). Everything it keeps lives in the broker's data folder, so a restart from the
same folder finds the same CA, passwords and users.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamgraph.broker import secure_clients
from streamgraph.broker.certificates import CertificateAuthority, write_secret_text
from streamgraph.broker.config import NodeSpec
from streamgraph.broker.credentials import ADMIN_USER, Credentials, check_user_name
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.secure_config import (
    SCRAM_MECHANISMS,
    Security,
    protocol,
    scram_arguments,
    secured_properties,
    uses_sasl,
    uses_tls,
)

_ARGFILE = "format.args"


class BrokerSecurity:
    """The CA, users and passwords of a secured broker in `data_dir` (made on first use)."""

    def __init__(self, mode: Security, data_dir: Path) -> None:
        self.mode = mode
        self.ca = CertificateAuthority(data_dir / "tls")
        self.ca.ensure()
        self.credentials = Credentials(data_dir / "credentials.json")
        self.credentials.password(ADMIN_USER)
        if not uses_sasl(mode):  # mutual TLS: the admin (and the probe) need a certificate
            self.ca.client(ADMIN_USER)

    def node_properties(self, node: NodeSpec, cluster: Sequence[NodeSpec]) -> dict[str, str]:
        return secured_properties(node, cluster, self.mode, self.ca.folder, self.credentials)

    def format_commands(
        self, commands: Sequence[Sequence[str]], folders: Sequence[Path]
    ) -> list[list[str]]:
        """Storage tool commands (main class onwards) that also create the SCRAM users.

        Passwords never go on a command line (`ps` shows it to everyone): the java launcher
        reads the main class and its arguments from a 0600 @argfile in each node's folder
        instead; `remove_argfiles` deletes them once the tool has run.
        """
        users = sorted({ADMIN_USER, *self.credentials.users})
        scram = scram_arguments(self.credentials, users)
        argfiles = []
        for folder, command in zip(folders, commands, strict=True):
            path = folder / _ARGFILE
            text = "\n".join(_argfile_quote(a) for a in [*command, *scram]) + "\n"
            write_secret_text(path, text)
            argfiles.append([f"@{path}"])
        return argfiles

    def remove_argfiles(self, folders: Sequence[Path]) -> None:
        for folder in folders:
            (folder / _ARGFILE).unlink(missing_ok=True)

    def redacted(self, error: BrokerError) -> BrokerError:
        """`error` with any password in its text or log tail replaced by [hidden]."""
        redact = self.credentials.redact
        return BrokerError(redact(str(error.args[0])), redact(error.log_tail))

    def probe(self, bootstrap_servers: str) -> tuple[ssl.SSLContext | None, dict[str, Any]]:
        """The TLS context of the ApiVersions probe, and aiokafka options of the admin."""
        admin = self.client_env(bootstrap_servers)
        tls = secure_clients.tls_context(admin) if uses_tls(self.mode) else None
        return tls, secure_clients.aiokafka_options(admin)

    def client_env(
        self, bootstrap_servers: str, user: str | None = None, mechanism: str = "SCRAM-SHA-512"
    ) -> dict[str, str]:
        """See LocalKafka.client_env."""
        name = user or ADMIN_USER
        check_user_name(name)
        options: dict[str, str | None] = {}
        if uses_tls(self.mode):
            options["cafile"] = str(self.ca.ca_path)
        if not uses_sasl(self.mode):
            files = self.ca.client(name)
            options.update(certfile=str(files.certfile), keyfile=str(files.keyfile))
        elif mechanism == "OAUTHBEARER":
            options.update(mechanism=mechanism, username=name)
        else:
            if mechanism == "PLAIN" and name != ADMIN_USER:
                raise ValueError("PLAIN users are fixed at start: only the admin has one")
            if mechanism not in (*SCRAM_MECHANISMS, "PLAIN"):
                raise ValueError(f"unknown SASL mechanism {mechanism!r}")
            if not self.credentials.knows(name):
                self._create_scram_user(bootstrap_servers, name)
            password = self.credentials.password(name)
            options.update(mechanism=mechanism, username=name, password=password)
        return secure_clients.client_environment(bootstrap_servers, protocol(self.mode), **options)

    def _create_scram_user(self, bootstrap_servers: str, name: str) -> None:
        password = self.credentials.password(name)
        try:
            admin = self.client_env(bootstrap_servers)
            secure_clients.create_scram_user(admin, name, password, SCRAM_MECHANISMS)
        except BaseException:
            self.credentials.forget(name)  # not made on the broker: the next call tries again
            raise


def _argfile_quote(argument: str) -> str:
    """One argument of a java @argfile: quoted, with backslashes and quotes escaped."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["BrokerSecurity"]
