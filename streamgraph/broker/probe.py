"""Ports and readiness: free loopback ports, and asking a broker whether it serves requests.

An open TCP port is not proof of a working broker (the socket opens before the broker has joined
its quorum), so readiness is a real request: ApiVersions on the wire, then a metadata call
through aiokafka, the client Faust uses, which must list every node of the cluster.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

_API_VERSIONS = 18  # ApiVersions v0 is still served by Kafka 4.x (verified on 4.1.1 and 4.4.0)
_CORRELATION_ID = 7
_LISTEN = "0A"  # TCP state code in /proc/net/tcp


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (all bound at once)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:`port` now.

    SO_REUSEADDR like the JVM's server sockets, so a port with leftover TIME_WAIT connections
    (a broker stopped a moment ago) counts as free, as it is for Kafka.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def answers_api_versions(
    host: str,
    port: int,
    timeout: float = 2.0,
    *,
    check_listening: bool = True,
    tls: ssl.SSLContext | None = None,
) -> bool:
    """True when the broker at host:port answers an ApiVersions v0 request without error.

    `check_listening` first looks whether anything listens on the port here (see
    `_may_listen`); turn it off for brokers on other hosts or behind Docker's port mapping.
    `tls` wraps the connection for a TLS listener (with a client certificate when the
    listener requires one). On a SASL listener the request needs no login: clients ask
    ApiVersions before they authenticate, so every broker answers it.
    """
    client_id = b"streamgraph-probe"
    header = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(client_id)) + client_id
    if check_listening and not _may_listen(port):
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if raw.getsockname() == raw.getpeername():
                _reset(raw)
                return False
            raw.settimeout(timeout)
            # the TLS socket takes over the connection: closing it closes both
            with raw if tls is None else tls.wrap_socket(raw, server_hostname=host) as sock:
                sock.sendall(struct.pack(">i", len(header)) + header)
                size = struct.unpack(">i", _read_exactly(sock, 4))[0]
                body = _read_exactly(sock, size)
    except (OSError, struct.error):
        return False
    if len(body) < 6:
        return False
    correlation_id, error_code = struct.unpack(">ih", body[:6])
    return correlation_id == _CORRELATION_ID and error_code == 0


def cluster_broker_ids(
    bootstrap_servers: str, timeout: float = 10.0, client_options: Mapping[str, Any] | None = None
) -> list[int]:
    """The node ids the cluster's metadata lists, asked through an aiokafka admin client.

    Runs on its own thread and event loop, so it works whether or not the caller is inside a
    running loop (an async test starting a broker, for instance). `client_options` are extra
    aiokafka arguments: the security settings of a secured broker.
    """
    options = dict(client_options or {})
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(asyncio.run, _describe_cluster(bootstrap_servers, timeout, options))
        return future.result(timeout=timeout + 5)


async def _describe_cluster(
    bootstrap_servers: str, timeout: float, options: dict[str, Any]
) -> list[int]:
    from aiokafka.admin import AIOKafkaAdminClient  # imported late: the CLI starts faster

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000), **options
    )
    await admin.start()
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()
    return sorted(int(broker["node_id"]) for broker in cluster["brokers"])


def _may_listen(port: int) -> bool:
    """False when /proc/net/tcp{,6} shows nothing listening on `port`.

    Connecting to a loopback port nobody listens on can *self-connect*: when the kernel picks
    that same port as the connection's source (the port is in the ephemeral range, as free ports
    are), the socket connects to itself and holds the port, and the broker then fails to bind
    it. So look before connecting. The JVM listens on IPv6 sockets (::ffff:127.0.0.1), hence
    tcp6; any address counts. Without /proc, connect anyway (the caller still checks).
    """
    suffix = f":{port:04X}"
    try:
        tables = [Path(f"/proc/net/{name}").read_text() for name in ("tcp", "tcp6")]
    except OSError:
        return True
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _LISTEN and fields[1].endswith(suffix):
                return True
    return False


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN, so the port is not held in TIME_WAIT afterwards."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise OSError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


__all__ = ["HOST", "answers_api_versions", "cluster_broker_ids", "free_ports", "port_is_free"]
