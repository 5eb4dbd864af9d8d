"""`streamgraph top TOPOLOGY --once` finds the workers a running `streamgraph run` started and
prints each step's events/s, lag, p50/p99 and errors."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from cli_support import streamgraph, wait_for_text

from streamgraph import run_records

CYCLIC_STEPS = ("preprocess", "generator", "evaluator", "evaluation-loop", "output")


@pytest.mark.timeout(300)
def test_top_once_shows_every_step_of_a_running_run(
    kafka_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**kafka_env, "STREAMGRAPH_STATE_DIR": str(tmp_path / "state")}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            streamgraph("run", "topologies.cyclic", "--port", "0"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_text(log, "serving until Ctrl-C", popen)
        (record,) = run_records.running(tmp_path / "state" / "runs")
        assert record.function == "cyclic-function" and len(record.workers) == 1
        shown = subprocess.run(
            streamgraph("top", "topologies.cyclic", "--once", "--interval", "0.2"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith("cyclic-function: 1 worker, 0 in flight, 0 dead letters")
        assert "events/s" in lines[2] and "lag" in lines[2] and "p99" in lines[2]
        for step in CYCLIC_STEPS:  # the demo requests ran each: a time, and no lag left
            (row,) = [line for line in lines if f" {step} " in line]
            cells = [cell.strip() for cell in row.strip("│ ").split("│")]
            assert cells[0] == step and cells[2] == "0" and cells[3] != "-", row
        popen.send_signal(signal.SIGINT)
        assert popen.wait(60) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    assert run_records.running(tmp_path / "state" / "runs") == []  # gone with the run


def test_top_with_nothing_running_says_how_to_start_it(tmp_path: Path) -> None:
    env = {"STREAMGRAPH_STATE_DIR": str(tmp_path)}
    shown = subprocess.run(
        streamgraph("top", "topologies.cyclic", "--once"),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 1
    assert "no running worker of cyclic-function found" in shown.stderr
    assert "--metrics" in shown.stderr
