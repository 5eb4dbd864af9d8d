"""Broker JVM processes: start one, stop it by pid, and never leave one behind.

Every process is stopped by its own pid, SIGTERM first (Kafka shuts down cleanly on it), then
SIGKILL after a timeout (a node that lost its quorum can hang in controlled shutdown). Processes
this interpreter started are also stopped at exit (atexit), and on Linux they are tied to this
process with a parent-death signal, so even a SIGKILLed test run leaves no JVM running.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from streamgraph.broker.errors import BrokerError
from streamgraph.settings import Settings

# Popen objects of JVMs this interpreter started and has not stopped or handed over.
_owned: set[subprocess.Popen[bytes]] = set()


def java_executable() -> str:
    """The `java` to run: $JAVA_HOME/bin/java when set, else the one on PATH."""
    home = Settings().java_home
    if home is not None and (home / "bin" / "java").is_file():
        return str(home / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("`java` (17 or newer) is needed to run the Kafka broker; none found")
    return found


def spawn(command: Sequence[str], log_path: Path, tie_to_parent: bool) -> subprocess.Popen[bytes]:
    """Start `command` with its output appended to `log_path`, in its own session.

    Its own session keeps a terminal's Ctrl-C away from the JVM, so it is stopped by us, in
    order. With `tie_to_parent`, `setpriv --pdeathsig KILL` (util-linux) makes the kernel kill
    it when the thread that started it dies; setpriv execs the JVM, so the pid stays the same.
    """
    argv = list(command)
    setpriv = shutil.which("setpriv")
    if tie_to_parent and setpriv is not None:
        argv = [setpriv, "--pdeathsig", "KILL", *argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _owned.add(popen)
    return popen


def run_tool(command: Sequence[str], timeout: float = 60.0) -> str:
    """Run the storage tool (a short-lived JVM) to completion; its output, or BrokerError."""
    try:
        done = subprocess.run(
            list(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"the Kafka storage tool did not finish in {timeout:.0f} s") from exc
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise BrokerError(f"the Kafka storage tool failed (exit {done.returncode})", output)
    return output


def stop_children(popens: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """Stop processes we started: SIGTERM all, wait up to `timeout`, SIGKILL what is left.

    All get SIGTERM at once, so a cluster shuts down in one timeout, not one per node.
    """
    popens = list(popens)
    for popen in popens:
        if popen.poll() is None:
            _signal(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for popen in popens:
        try:
            popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for popen in popens:
        if popen.poll() is None:
            _signal(popen.pid, signal.SIGKILL)
            popen.wait(30)
        _owned.discard(popen)


def kill_child(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process we started (a crash, for failover tests) and reap it."""
    if popen.poll() is None:
        _signal(popen.pid, signal.SIGKILL)
    popen.wait(30)
    _owned.discard(popen)


def disown(popens: Iterable[subprocess.Popen[bytes]]) -> None:
    """Hand processes over (to `streamgraph kafka stop`): no longer stopped at our exit."""
    for popen in popens:
        _owned.discard(popen)
        # the Popen object is dropped while the JVM runs on; mark it done so its finaliser
        # does not warn that the subprocess is "still running", which is intended here
        popen.returncode = 0


def stop_pids(pids: Sequence[int], timeout: float) -> None:
    """Stop processes that are not our children (recorded by an earlier CLI call), by pid."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    if _wait_gone(pids, timeout):
        return
    for pid in pids:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    if not _wait_gone(pids, 30.0):
        raise BrokerError(f"processes {[p for p in pids if pid_alive(p)]} survived SIGKILL")


def pid_alive(pid: int) -> bool:
    """True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    try:
        # the state letter follows the parenthesised command name, which may contain spaces
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)


def pid_runs(pid: int, marker: str) -> bool:
    """True when `pid` is alive and its command line contains `marker`.

    Guards against pid reuse: a pid recorded yesterday may belong to another program today.
    """
    if not pid_alive(pid):
        return False
    if not Path("/proc/self").exists():
        return True  # no /proc (macOS): trust the pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False  # it ended meanwhile
    return marker.encode() in cmdline


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _wait_gone(pids: Sequence[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


@atexit.register
def _stop_owned_at_exit() -> None:
    stop_children(list(_owned), timeout=5.0)


__all__ = [
    "disown",
    "java_executable",
    "kill_child",
    "pid_alive",
    "pid_runs",
    "run_tool",
    "spawn",
    "stop_children",
    "stop_pids",
    "tail",
]
