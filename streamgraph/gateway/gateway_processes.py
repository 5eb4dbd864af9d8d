"""`streamgraph gateway --processes N`: N gateway processes behind one port.

One gateway process is one event loop on one core, and at high concurrency it is CPU-bound
(HTTP parsing, the record codec). Each child here is a whole gateway, with its own Kafka
clients and its own reply topic (so no child ever sees another's replies), bound to the same
port with SO_REUSEPORT: the kernel spreads incoming connections over them.

This parent only supervises. It starts the children and stops them by pid: on Ctrl-C or
SIGTERM, when one of them dies (the others are stopped too, and the exit status says so), and
on Linux by the kernel should the parent itself be killed (a parent-death signal).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from ..broker import jvm_process

STOP_TIMEOUT = 15.0  # seconds a child may take to stop (it deletes its reply topic) before SIGKILL
WATCH_INTERVAL = 0.2  # seconds between looks at the children


class _Stop(Exception):
    """A stop signal arrived."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_gateway_processes(child_argv: Sequence[str], processes: int) -> int:
    """Run `processes` copies of `child_argv` (a gateway with --reuse-port) until a stop
    signal (exit status 0) or until one of them exits (1); every child is stopped either way."""
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "TERM"] if setpriv else []
    children: list[subprocess.Popen[bytes]] = []
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(processes):
            # own session: a terminal's Ctrl-C reaches this parent only, which stops them in
            # order; their output goes where ours goes
            children.append(
                subprocess.Popen(
                    [*prefix, *child_argv], stdin=subprocess.DEVNULL, start_new_session=True
                )
            )
        pids = ", ".join(str(c.pid) for c in children)
        print(f"gateway processes: pids {pids}", flush=True)
        while True:
            for child in children:
                if child.poll() is not None:
                    print(
                        f"gateway process {child.pid} exited with {child.returncode}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(WATCH_INTERVAL)
    except (_Stop, KeyboardInterrupt):
        return 0
    finally:
        # no second signal may cut the stop short: the children must not outlive us
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        jvm_process.stop_children(children, STOP_TIMEOUT)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["run_gateway_processes"]
