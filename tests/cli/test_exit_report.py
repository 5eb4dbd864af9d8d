"""What `streamgraph run` and `deploy()` say of a child process that exited (deploy.Child)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamgraph.deploy import Child

BANNER = "+ƒaµS† v0.15.3+----+\n| id | f1.cyclic-function |\n"
ACL_LINE = (
    "Kafka at 127.0.0.1:9092 denied User:bob (SASL_SSL, mechanism SCRAM-SHA-512, user bob) "
    "access to group f1.cyclic-function: not authorized; grant it an ACL; the worker stops"
)


def _exited(tmp_path: Path, log: str) -> Child:
    path = tmp_path / "worker.log"
    path.write_text(log)
    popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    popen.wait()
    return Child("worker-f1", popen, path)


def test_a_worker_refused_by_kafka_is_reported_by_its_line(tmp_path: Path) -> None:
    log = (
        f"{BANNER}\x1b[?25l[2026-12-08 03:00:46,338] [15512] [WARNING] a warning\n"
        f"[2026-12-08 03:00:46,738] [15512] [ERROR] {ACL_LINE} \n"
    )
    report = _exited(tmp_path, log).exit_report()
    assert report == f"worker-f1 exited with 1: {ACL_LINE} (its log: {tmp_path / 'worker.log'})"


def test_the_start_check_of_streamgraph_worker_is_reported_by_its_line(tmp_path: Path) -> None:
    report = _exited(tmp_path, "Error: Kafka at x refused the login (...)\n").exit_report()
    assert report.startswith("worker-f1 exited with 1: Kafka at x refused the login (...) (its")


def test_any_other_exit_shows_the_log_tail(tmp_path: Path) -> None:
    log = "".join(f"line {i}\n" for i in range(100)) + "Traceback ...\nValueError: boom\n"
    report = _exited(tmp_path, log).exit_report()
    first, *tail = report.splitlines()
    assert first == f"worker-f1 exited with 1; its log ({tmp_path / 'worker.log'}):"
    assert tail[-1] == "ValueError: boom" and len(tail) == 40
