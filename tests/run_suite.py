"""`make test`'s test run: one Kafka broker, the suite in parallel, lint and types beside it.

    python tests/run_suite.py [--workers N] [--lint] [pytest args...]

1. `make lint typecheck` starts in the background (with --lint): its output is printed at the end.
2. One LocalKafka starts for the whole run (unless STREAMGRAPH_TEST_BROKERS names a broker);
   every pytest below gets it through STREAMGRAPH_TEST_BROKERS.
3. Every test not marked `serial` runs on N pytest-xdist workers (default 6: most tests wait on
   Kafka, sockets and child processes, not on the two cores; 6 took 10 min where 4 took 12.7 on
   this 2-core machine), the scenario and acceptance tests on every Kafka variant
   (`--kafka-variants=all`, tests/conftest.py). `--dist worksteal`: an idle worker takes queued
   tests from a busy one, so a few 30-90 s tests do not leave the others waiting at the end.
4. The tests marked `serial` (timing-sensitive: crash windows, sub-second deadlines) run after,
   alone on the machine.
5. The broker stops (by pid, however the run ended); the exit status is non-zero if any part
   failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from streamgraph.broker import LocalKafka  # noqa: E402  (after the checkout is on the path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=6, help="pytest-xdist workers (6)")
    parser.add_argument("--lint", action="store_true", help="run `make lint typecheck` beside")
    args, extra = parser.parse_known_args()
    started = time.monotonic()
    checks = _start_checks() if args.lint else None
    env = dict(os.environ)
    broker: LocalKafka | None = None
    failed: list[str] = []
    try:
        if not env.get("STREAMGRAPH_TEST_BROKERS", "").strip():
            broker = LocalKafka().start()
            env["STREAMGRAPH_TEST_BROKERS"] = broker.bootstrap_servers
            print(f"run_suite: Kafka at {broker.bootstrap_servers} for every stage", flush=True)
        common = [str(BIN / "pytest"), "-q", "--kafka-variants=all", *extra]
        parallel = ["-n", str(args.workers), "--dist", "worksteal", "--durations=25"]
        stages = [
            ("parallel", [*common, *parallel, "-m", "not serial"]),
            ("serial", [*common, "-p", "no:xdist", "-m", "serial"]),
        ]
        for name, argv in stages:
            print(f"\nrun_suite: {name} stage: {' '.join(argv[1:])}", flush=True)
            stage_start = time.monotonic()
            code = subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode
            print(f"run_suite: {name} stage exit {code} in {_since(stage_start)}", flush=True)
            if code != 0:
                failed.append(f"pytest {name} stage")
    finally:
        if broker is not None:
            print(f"run_suite: {_topic_count(broker.bootstrap_servers)}", flush=True)
            broker.stop()
    if checks is not None:
        output, code = _finish_checks(checks)
        print(f"\nrun_suite: make lint typecheck (exit {code}):\n{output}", flush=True)
        if code != 0:
            failed.append("lint/typecheck")
    verdict = f"FAILED: {', '.join(failed)}" if failed else "passed"
    print(f"\nrun_suite: {verdict} in {_since(started)}", flush=True)
    return 1 if failed else 0


def _topic_count(brokers: str) -> str:
    """How many topics the tests left on the shared broker: each one makes every client that
    asks for all topics' metadata slower (a test server deletes its own when it closes)."""

    async def count() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
        await admin.start()
        try:
            return len(await admin.list_topics())
        finally:
            await admin.close()

    try:
        return f"{asyncio.run(count())} topics left on the broker"
    except Exception as exc:  # a diagnostic only
        return f"topics left on the broker unknown ({exc!r})"


def _start_checks() -> subprocess.Popen[str]:
    argv = ["make", "--no-print-directory", "lint", "typecheck"]
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish_checks(checks: subprocess.Popen[str]) -> tuple[str, int]:
    output, _ = checks.communicate()
    return output.strip(), checks.returncode


def _since(start: float) -> str:
    seconds = time.monotonic() - start
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


if __name__ == "__main__":
    sys.exit(main())
