"""LocalKafka: a real Apache Kafka (KRaft, one or more nodes) on 127.0.0.1, from Maven jars.

    with LocalKafka() as kafka:               # one node, free ports, temporary data
        use(kafka.bootstrap_servers)          # "127.0.0.1:41234"

    cluster = LocalKafka(nodes=3).start()     # static 3-voter quorum, replication 3, min ISR 2
    cluster.kill_node(0)                      # SIGKILL, as a crash would
    cluster.start_node(0)                     # same config and data, not formatted again
    cluster.stop()

    with LocalKafka(security="sasl_ssl") as kafka:   # TLS, SASL users, ACLs (secure_config.py)
        env = kafka.client_env()              # STREAMGRAPH_KAFKA_* of the admin (a super user)
        env = kafka.client_env(user="alice")  # a new user with no rights yet...
        kafka.grant(topic_access("alice", "orders", group="billing"))  # ...then some

Each node is one JVM acting as broker and controller. Node `i` (0-based, as in `pids`) has the
Kafka node.id `i + 1`. Start waits for a real answer (ApiVersions on every node, then an aiokafka
metadata call listing all nodes) and fails with the broker's log tail when the broker dies. A
secured broker is probed the same way through its secured listener: ApiVersions over TLS (with
the admin's client certificate where the listener requires one; SASL needs no login for it),
then the metadata call as the admin, which proves authentication and the authorizer work too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self

from streamgraph.broker import jvm_process, secure_clients
from streamgraph.broker.acls import Acl
from streamgraph.broker.broker_security import BrokerSecurity
from streamgraph.broker.certificates import write_secret_text
from streamgraph.broker.config import (
    LOG4J2_PROPERTIES,
    NodeSpec,
    new_cluster_id,
    render_properties,
    server_properties,
)
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.jars import DEFAULT_VERSION, STORAGE_TOOL, classpath, ensure_jars
from streamgraph.broker.probe import (
    HOST,
    answers_api_versions,
    cluster_broker_ids,
    free_ports,
    port_is_free,
)
from streamgraph.broker.secure_config import (
    DEFAULT_MECHANISM,
    LOG4J2_CONFIG_DUMP,
    Security,
    parse_security,
)

# C1 only and the serial collector: on 2 cores three nodes are ready in ~13 s instead of ~26 s
# with Kafka's G1 flags, and tests never run long enough to miss C2's peak speed.
_FAST_START_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
_PORT_TAKEN = ("Address already in use", "BindException")


class LocalKafka:
    """A local Apache Kafka cluster of `nodes` KRaft nodes; see the module docstring."""

    def __init__(
        self,
        nodes: int = 1,
        port: int | None = None,
        data_dir: str | Path | None = None,
        version: str = DEFAULT_VERSION,
        *,
        heap_mb: int | None = None,
        overrides: Mapping[str, str] | None = None,
        start_timeout: float = 90.0,
        stop_timeout: float = 20.0,
        tie_to_parent: bool = True,
        fast_start: bool = True,
        security: str | None = None,
    ) -> None:
        """Describe the cluster; nothing runs before `start()`.

        `port` is the first node's client port (node i listens on port + i); None picks free
        ports. `data_dir` None uses a temporary folder removed by `stop()`; a given folder keeps
        topics across restarts. `overrides` are extra server.properties for every node.
        `tie_to_parent` has the kernel kill the JVMs when the thread that started them ends
        (Linux), so start from a thread that lives as long as the broker should; the CLI turns
        it off to leave the broker running. `fast_start` runs the JVM with the C1 compiler and
        the serial collector (ready in half the time; tests); False gives Kafka its full JIT
        (benchmarks, long runs). `security` "sasl_ssl", "ssl" (mutual TLS) or "sasl_plaintext"
        secures the client listener, with its own CA, users and ACL authorizer in the data
        folder (see secure_config.py); None is the open PLAINTEXT broker.
        """
        if nodes < 1:
            raise ValueError("a Kafka cluster needs at least one node")
        self.nodes = nodes
        self.version = version
        self._port = port
        self._given_dir = Path(data_dir).resolve() if data_dir is not None else None
        self._heap_mb = heap_mb or (512 if nodes == 1 else 384)
        self._overrides = dict(overrides or {})
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._tie_to_parent = tie_to_parent
        self._fast_start = fast_start
        self.security: Security | None = parse_security(security)
        self._secure: BrokerSecurity | None = None
        self._dir: Path | None = None
        self._specs: list[NodeSpec] = []
        self._popens: list[subprocess.Popen[bytes] | None] = []
        self._java = ""
        self._classpath = ""

    # ---- what callers read -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Every node's client address, comma-separated: "127.0.0.1:P1,127.0.0.1:P2,..."."""
        if not self._specs:
            raise BrokerError("the broker has not been started")
        return ",".join(f"{HOST}:{spec.port}" for spec in self._specs)

    @property
    def pids(self) -> list[int]:
        """Process ids of the nodes running now (a killed or stopped node is left out)."""
        return [p.pid for p in self._popens if p is not None and p.poll() is None]

    def node_pid(self, i: int) -> int | None:
        """The pid of node `i`, or None while it is stopped or killed."""
        popen = self._popens[i] if i < len(self._popens) else None
        return popen.pid if popen is not None and popen.poll() is None else None

    @property
    def ports(self) -> list[int]:
        return [spec.port for spec in self._specs]

    @property
    def data_dir(self) -> Path:
        if self._dir is None:
            raise BrokerError("the broker has not been started")
        return self._dir

    @property
    def specs(self) -> list[NodeSpec]:
        """Ports and folders of every node (for state files and diagnostics)."""
        return list(self._specs)

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients of a TLS broker trust (tls/ca.pem in the data folder)."""
        return self._secured().ca.ca_path

    def client_env(
        self, user: str | None = None, *, mechanism: str = DEFAULT_MECHANISM
    ) -> dict[str, str]:
        """The environment a client needs: STREAMGRAPH_BROKERS and STREAMGRAPH_KAFKA_*.

        `user` None is the admin (a super user). Another name is created if new, with no ACL
        (`grant` gives it rights): a SCRAM user (SHA-512 and SHA-256, through the admin API)
        on a SASL broker, a client certificate (CN=user) on an "ssl" one. `mechanism` picks
        the SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256, PLAIN (the admin only: its users
        are fixed in the JAAS config) or OAUTHBEARER (no password: the client sends an unsecured
        JWT whose `sub` is the user, see credentials.unsecured_jwt).
        """
        if self.security is None:
            return {secure_clients.BROKERS: self.bootstrap_servers}
        return self._secured().client_env(self.bootstrap_servers, user, mechanism)

    def grant(self, acls: Iterable[Acl]) -> None:
        """Create these ACL bindings, as the admin (see acls.py, e.g. `topic_access`)."""
        secure_clients.create_acls(self._admin_env(), acls)

    def revoke(self, acls: Iterable[Acl]) -> None:
        """Delete the ACL bindings matching these exactly, as the admin."""
        secure_clients.delete_acls(self._admin_env(), acls)

    def __repr__(self) -> str:
        # never a password: they stay in the credentials file
        where = self.bootstrap_servers if self._specs else "not started"
        return (
            f"LocalKafka(nodes={self.nodes}, version={self.version!r}, "
            f"security={self.security!r}, {where})"
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last log lines of every node, each under a header naming its log file."""
        return "\n".join(
            f"== node {spec.node_id}: {spec.log_path} ==\n{jvm_process.tail(spec.log_path, lines)}"
            for spec in self._specs
        )

    # ---- whole cluster -----------------------------------------------------------------

    def start(self) -> Self:
        """Fetch the jars if needed, format new nodes, start every node, wait until ready."""
        if any(p is not None for p in self._popens):
            raise BrokerError("this LocalKafka is already started")
        self._classpath = classpath(ensure_jars(self.version))
        self._java = jvm_process.java_executable()
        self._dir = self._given_dir or Path(tempfile.mkdtemp(prefix="streamgraph-kafka-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        log4j = LOG4J2_PROPERTIES + (LOG4J2_CONFIG_DUMP if self.security else "")
        (self._dir / "log4j2.properties").write_text(log4j)
        cluster_id = self._cluster_id()
        if self.security is not None:  # the CA and passwords, kept from an earlier start if any
            self._secure = BrokerSecurity(self.security, self._dir)
        # free ports can be taken by someone else between our check and the JVM's bind: retry
        attempts = 3 if self._port is None else 1
        for attempt in range(1, attempts + 1):
            self._specs = self._plan(self._dir)
            try:
                self._format(cluster_id)
                self._popens = [self._launch(spec) for spec in self._specs]
                self._wait_ready(time.monotonic() + self._start_timeout)
                return self
            except BrokerError as exc:
                self._stop_processes()
                if attempt == attempts or not any(s in exc.log_tail for s in _PORT_TAKEN):
                    self._remove_temp_dir()
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after `stop_timeout`); idempotent."""
        self._stop_processes()
        self._remove_temp_dir()

    def detach(self) -> None:
        """Leave the nodes running after this process exits (`streamgraph kafka start`)."""
        jvm_process.disown(p for p in self._popens if p is not None)
        self._popens = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- single nodes, for failover tests ----------------------------------------------

    def kill_node(self, i: int) -> None:
        """SIGKILL node `i`, as a crash would: no controlled shutdown."""
        popen = self._popens[i]
        if popen is not None:
            jvm_process.kill_child(popen)
            self._popens[i] = None

    def stop_node(self, i: int) -> None:
        """Stop node `i` cleanly (SIGTERM: leaders move away first), SIGKILL after the timeout."""
        popen = self._popens[i]
        if popen is not None:
            jvm_process.stop_children([popen], self._stop_timeout)
            self._popens[i] = None

    def start_node(self, i: int) -> None:
        """Restart node `i` with its config and data; wait until the cluster lists it again."""
        running = self._popens[i]
        if running is not None and running.poll() is None:
            return
        self._popens[i] = self._launch(self._specs[i])
        self._wait_ready(time.monotonic() + self._start_timeout, only=[i])

    # ---- internals ---------------------------------------------------------------------

    def _cluster_id(self) -> str:
        """The id of the cluster in the data folder, or a new one (kept in cluster.json)."""
        assert self._dir is not None
        record = self._dir / "cluster.json"
        if record.is_file():
            saved = json.loads(record.read_text())
            if saved["nodes"] != self.nodes:
                raise BrokerError(
                    f"{self._dir} holds a {saved['nodes']}-node cluster, not {self.nodes}: "
                    "remove the folder or use another one"
                )
            # users exist only if made at format time, so a folder keeps its security
            if saved.get("security") != self.security:
                raise BrokerError(
                    f"{self._dir} holds a broker with security {saved.get('security')}, not "
                    f"{self.security}: remove the folder or use another one"
                )
            return str(saved["cluster_id"])
        cluster_id = new_cluster_id()
        saved = {"cluster_id": cluster_id, "nodes": self.nodes, "security": self.security}
        record.write_text(json.dumps(saved) + "\n")
        return cluster_id

    def _plan(self, root: Path) -> list[NodeSpec]:
        n = self.nodes
        # a secured node has a third listener, for replication between brokers
        others = 2 * n if self.security is not None else n
        if self._port is None:
            ports = free_ports(n + others)
            clients, spare = ports[:n], ports[n:]
        else:
            clients = [self._port + i for i in range(n)]
            busy = [p for p in clients if not port_is_free(p)]
            if busy:
                raise BrokerError(f"port {busy[0]} on {HOST} is in use (another broker running?)")
            spare = [p for p in free_ports(n + others) if p not in clients]
        internal = spare[n : 2 * n] if self.security is not None else [None] * n
        specs = [
            NodeSpec(i + 1, clients[i], spare[i], root / f"node-{i + 1}", internal[i])
            for i in range(n)
        ]
        for spec in specs:
            spec.directory.mkdir(parents=True, exist_ok=True)
            props = server_properties(spec, specs, self._overrides)
            if self.security is None:
                spec.properties_path.write_text(render_properties(props))
                continue
            props.update(self._secured().node_properties(spec, specs))
            props.update(self._overrides)
            # it holds the PLAIN password (JAAS): readable by the owner only
            write_secret_text(spec.properties_path, render_properties(props))
        return specs

    def _jvm(self, heap_mb: int) -> list[str]:
        log4j = self.data_dir / "log4j2.properties"
        return [
            self._java,
            f"-Xmx{heap_mb}m",
            *(_FAST_START_FLAGS if self._fast_start else []),
            "-XX:+ExitOnOutOfMemoryError",  # die visibly rather than limp along
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            self._classpath,
        ]

    def _format(self, cluster_id: str) -> None:
        """Format the nodes that are new, in parallel (one short JVM each)."""
        todo = [spec for spec in self._specs if not spec.is_formatted]
        tool = [STORAGE_TOOL, "format", "-t", cluster_id, "-c"]
        commands = [[*tool, str(spec.properties_path)] for spec in todo]
        folders = [spec.directory for spec in todo]
        if self._secure is not None:
            commands = self._secure.format_commands(commands, folders)
        commands = [[*self._jvm(256), *command] for command in commands]
        if not commands:
            return
        try:
            with ThreadPoolExecutor(max_workers=len(commands)) as pool:
                list(pool.map(jvm_process.run_tool, commands))
        except BrokerError as exc:
            if self._secure is None:
                raise
            raise self._secure.redacted(exc) from None
        finally:
            if self._secure is not None:
                self._secure.remove_argfiles(folders)

    def _launch(self, spec: NodeSpec) -> subprocess.Popen[bytes]:
        command = [*self._jvm(self._heap_mb), "kafka.Kafka", str(spec.properties_path)]
        return jvm_process.spawn(command, spec.log_path, self._tie_to_parent)

    def _wait_ready(self, deadline: float, only: list[int] | None = None) -> None:
        """Wait for ApiVersions answers from the nodes, then for a metadata call listing them."""
        indexes = only if only is not None else list(range(self.nodes))
        pending = set(indexes)
        tls, options = self._secure.probe(self.bootstrap_servers) if self._secure else (None, None)
        while pending:
            self._check_alive(indexes)
            for i in sorted(pending):
                if answers_api_versions(HOST, self._specs[i].port, timeout=1.0, tls=tls):
                    pending.discard(i)
            if pending:
                self._check_deadline(deadline, f"nodes {sorted(pending)} never answered")
                time.sleep(0.2)
        wanted = {self._specs[i].node_id for i in indexes}
        while True:
            self._check_alive(indexes)
            remaining = max(1.0, deadline - time.monotonic())
            try:
                listed = set(
                    cluster_broker_ids(self.bootstrap_servers, min(10.0, remaining), options)
                )
            except Exception as exc:  # any client error means "not yet"
                listed, reason = set(), f"{type(exc).__name__}: {exc}"
            else:
                reason = f"metadata lists nodes {sorted(listed)}"
            if wanted <= listed:
                return
            self._check_deadline(deadline, f"cluster not ready: {reason}")
            time.sleep(0.3)

    def _secured(self) -> BrokerSecurity:
        if self.security is None:
            raise BrokerError("this broker is not secured (security=None)")
        if self._secure is None:
            raise BrokerError("the broker has not been started")
        return self._secure

    def _admin_env(self) -> dict[str, str]:
        return self._secured().client_env(self.bootstrap_servers)

    def _check_alive(self, indexes: list[int]) -> None:
        for i in indexes:
            popen = self._popens[i]
            if popen is not None and popen.poll() is not None:
                raise BrokerError(
                    f"Kafka node {i + 1} exited with code {popen.returncode} while starting",
                    self.log_tail(),
                )

    def _check_deadline(self, deadline: float, why: str) -> None:
        if time.monotonic() > deadline:
            raise BrokerError(
                f"Kafka was not ready after {self._start_timeout:.0f} s ({why})", self.log_tail()
            )

    def _stop_processes(self) -> None:
        jvm_process.stop_children([p for p in self._popens if p is not None], self._stop_timeout)
        self._popens = [None] * len(self._popens)

    def _remove_temp_dir(self) -> None:
        if self._given_dir is None and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


__all__ = ["LocalKafka"]
