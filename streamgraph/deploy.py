"""A function deployed as processes: (a local Kafka,) a worker per function, an HTTP gateway.

    deployment = Deployment(function, brokers=None)   # None: a local broker (see `_broker`)
    deployment.start()                                # returns once the gateway is ready
    deployment.url                                    # "http://127.0.0.1:PORT"
    deployment.stop()                                 # SIGTERM, then SIGKILL, by pid

`fn.deploy()` and `streamgraph run` both use it. Workers run `streamgraph worker REF` where REF
is a function reference (`streamgraph.locate`); their logs go to files in a run folder. Every
process started is stopped by its pid: by `stop()`, on an error while starting, at interpreter
exit (atexit), and on Linux by the kernel when this process dies (a parent-death signal).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import run_records
from .broker import broker_records, jvm_process
from .broker.errors import BrokerError
from .broker.local_kafka import LocalKafka
from .broker.probe import HOST, answers_api_versions, free_ports
from .client import HttpClient
from .errors import DeployError
from .reference import function_reference
from .settings import Settings

# set in every process a deployment starts: they import the user's module, which must not
# deploy again (as with multiprocessing, the script's top level belongs under a main guard);
# read back as Settings().deployed_process
DEPLOYED_ENV = "STREAMGRAPH_DEPLOYED_PROCESS"
STOP_TIMEOUT = 15.0


@dataclass
class Child:
    """One process we started: what it is, its pid, its log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_report(self) -> str:
        """Why it exited: the one line a worker ends with when Kafka refuses it (a login, a
        certificate, an ACL) and where its log is; else the log's tail."""
        code = self.popen.returncode
        line = _last_refusal(_read(self.log))
        if line is not None:
            return f"{self.name} exited with {code}: {line} (its log: {self.log})"
        return (
            f"{self.name} exited with {code}; its log ({self.log}):\n{jvm_process.tail(self.log)}"
        )


#: the line a worker ends with (engines/kafka/refusals.py), or `streamgraph worker`'s start check
_REFUSAL = re.compile(r"\[ERROR\] (?P<line>.*; the worker stops)\s*$|^Error: (?P<check>.*)$")


def _last_refusal(log: str) -> str | None:
    found = [
        m.group("line") or m.group("check") for m in map(_REFUSAL.search, log.splitlines()) if m
    ]
    return found[-1] if found else None


def dedicated_model_commands(function: Any, reference: str) -> list[tuple[str, list[str]]]:
    """One model worker (`streamgraph worker REF --model NAME`) per shared model of `function`
    whose execution mechanism is dedicated_process; the step workers reach it over Kafka."""
    from .engines.kafka.remote_model import dedicated_models

    return [
        (f"model-{name}", [*worker_argv(reference), "--model", name])
        for name in dedicated_models(function)
    ]


def worker_argv(reference: str, function: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "streamgraph.cli", "worker", reference, "-l", "info"]
    return argv + (["--function", function] if function else [])


def worker_commands(function: Any, reference: str) -> list[tuple[str, list[str]]]:
    """(name, argv) of every worker the function needs: its own, its children's, its models'."""
    commands = [(f"worker-{function.name}", worker_argv(reference))]
    for child in function.child_functions:
        commands.append((f"worker-{child}", worker_argv(reference, child)))
    return commands + dedicated_model_commands(function, reference)


@dataclass
class Deployment:
    """The processes that serve one function; see the module docstring."""

    function: Any
    brokers: str | None = None
    port: int | None = None
    reference: str | None = None  # default: `streamgraph.reference.function_reference`
    folder: Path | None = None  # default: a new temporary run folder
    gateway_processes: int | None = None  # default: the gateway's (STREAMGRAPH_GATEWAY_PROCESSES)
    owner: str = "deploy()"  # who started it, in the record of a broker started for it
    brokers_source: str = "given to deploy()"  # said when `brokers` do not answer
    children: list[Child] = field(default_factory=list)
    broker: LocalKafka | None = None
    broker_note: str = ""
    client: HttpClient | None = None
    metrics: dict[str, str] = field(default_factory=dict)  # worker name -> its /metrics URL

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_timeout: float = 120.0) -> None:
        """Start everything and wait until the workers and the gateway are ready."""
        if Settings().deployed_process:
            raise DeployError(
                "deploy() was called while a deployed worker imported your module: put the "
                "script's top level under `if __name__ == '__main__':`"
            )
        self.folder = Path(
            self.folder or tempfile.mkdtemp(prefix=f"streamgraph-{self.function.name}-")
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        try:
            self.function.check_functions()
            # Kafka security that cannot work is refused here, before any process starts; the
            # children get it (secrets included) through the environment only, never an argv
            from .connection.kafka_security import kafka_security  # (aiokafka: imported late)

            kafka_security(Settings())
            self.reference = self.reference or function_reference(self.function, self.folder)
            self.brokers = self._check_reachable(self.brokers) if self.brokers else self._broker()
            self.port = self.port or free_ports(1)[0]
            env = self._env()
            commands = worker_commands(self.function, self.reference)
            # each step worker serves its metrics on a port of its own (`streamgraph top`)
            ports = iter(free_ports(len(commands)))
            for name, argv in commands:
                if name.startswith("worker-"):
                    port = next(ports)
                    argv = [*argv, "--metrics-port", str(port)]
                    self.metrics[name] = f"http://{HOST}:{port}/metrics"
                self._spawn(name, argv, env)
            gateway = [sys.executable, "-m", "streamgraph.cli", "gateway", self.reference]
            gateway += ["--host", HOST, "--port", str(self.port), "--brokers", self.brokers]
            if self.gateway_processes is not None:
                gateway += ["--processes", str(self.gateway_processes)]
            self._spawn("gateway", gateway, env)
            self._wait_ready(time.monotonic() + ready_timeout)
            run_records.save(self._record())
        except BaseException:
            self.stop()
            raise
        self.client = HttpClient(self.url)

    def stop(self) -> None:
        """Stop the gateway, then the workers, then our broker: SIGTERM, SIGKILL after 15 s."""
        atexit.unregister(self.stop)
        if self.port is not None:
            run_records.clear(self._record())
        if self.client is not None:
            self.client.close()
            self.client = None
        gateways = [c.popen for c in self.children if c.name == "gateway"]
        jvm_process.stop_children(gateways, STOP_TIMEOUT)
        jvm_process.stop_children([c.popen for c in self.children], STOP_TIMEOUT)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
            broker_records.clear(broker_records.folder(), broker_records.run_key())

    def _record(self) -> run_records.RunRecord:
        return run_records.RunRecord(
            self.function.name,
            self.reference or "",
            os.getpid(),
            str(self.folder),
            self.url,
            dict(self.metrics),
        )

    def alive(self) -> list[Child]:
        return [c for c in self.children if c.popen.poll() is None]

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.popen.poll() is not None]

    # -- parts ----------------------------------------------------------------------------------
    def _broker(self) -> str:
        """STREAMGRAPH_BROKERS when set, else the broker `streamgraph kafka start` left running,
        else our own, recorded (streamgraph/broker/broker_records.py) so other commands find it."""
        settings = Settings()
        if settings.brokers_given:
            self.broker_note = f"{settings.brokers} ({settings.brokers_origin})"
            return settings.brokers
        records = broker_records.folder(settings)
        for key, recorded in broker_records.running_brokers(records):
            if key.startswith(broker_records.KAFKA_START) and all(
                answers_api_versions(HOST, n.port) for n in recorded.nodes
            ):
                self.broker_note = f"the running local Kafka at {recorded.bootstrap_servers}"
                return recorded.bootstrap_servers
        self.broker = LocalKafka()  # data in a temporary folder, removed when it stops
        try:
            self.broker.start()
            owner = f"{self.owner} (pid {os.getpid()})"
            broker_records.save(
                records, broker_records.run_key(), broker_records.record(self.broker, owner)
            )
        except (BrokerError, OSError) as exc:
            raise DeployError(f"the local Kafka broker did not start: {exc}") from exc
        servers = self.broker.bootstrap_servers
        self.broker_note = (
            f"a local Kafka started for this run at {servers} (pids {self.broker.pids})"
        )
        return servers

    def _check_reachable(self, brokers: str) -> str:
        """`brokers`, once one answered (else BrokerUnreachableError, before any process runs).
        On a thread of its own: deploy() may be called from inside a running event loop."""
        from .connection.kafka_security import kafka_security
        from .wire.reach import check_reachable

        security = kafka_security(Settings(brokers=brokers))
        reach = check_reachable(brokers, self.brokers_source, security=security)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, reach).result()
        return brokers

    def _env(self) -> dict[str, str]:
        assert self.brokers is not None
        # the children import what this process can: the same module search path and folder
        paths = [p or os.getcwd() for p in sys.path]
        # the children's environment: ours handed on whole (not a setting read here), plus theirs
        return {
            **os.environ,
            "STREAMGRAPH_BROKERS": self.brokers,
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
            DEPLOYED_ENV: "1",
        }

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        assert self.folder is not None
        log = self.folder / f"{name}.log"
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # the kernel kills it should this process die first (Linux)
            argv = [setpriv, "--pdeathsig", "KILL", *argv]
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # its own session: a terminal's Ctrl-C reaches us only, and we stop it in order
                start_new_session=True,
            )
        self.children.append(Child(name, popen, log))

    def _wait_ready(self, deadline: float) -> None:
        waiting = [c for c in self.children if c.name != "gateway"]
        while waiting or not self._gateway_ready():
            for child in self.dead():
                raise DeployError(child.exit_report())
            # Faust logs "[^Worker]: Ready" once its agents are subscribed
            waiting = [c for c in waiting if "Ready" not in _read(c.log)]
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting) or "gateway"
                raise DeployError(f"not ready in time: {names}; logs in {self.folder}")
            time.sleep(0.2)

    def _gateway_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


__all__ = ["Child", "Deployment", "dedicated_model_commands", "worker_commands"]
