"""Which broker a command talks to, and one clear line when none answers there.

(`streamgraph gateway` is the exception: it starts anyway and answers 503 until a broker comes,
tests/gateway/test_readiness.py.)

Order: `--brokers`, STREAMGRAPH_BROKERS, the local Kafka `streamgraph kafka start` or
`streamgraph run` recorded in the per-user state folder, then 127.0.0.1:9092.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import streamgraph, wait_for_text

from streamgraph.broker import LocalKafka, broker_records
from streamgraph.broker.probe import HOST, free_ports
from streamgraph.commands.common import choose_brokers
from streamgraph.errors import BrokerUnreachableError
from streamgraph.testing import serve

ROOT = Path(__file__).resolve().parents[2]


def _env(state_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STREAMGRAPH_BROKERS"}
    # the checkout on the path, as for any test run from the repo root, from any folder
    python_path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return {**env, "STREAMGRAPH_STATE_DIR": str(state_dir), "PYTHONPATH": python_path, **more}


def _cli(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> Any:
    return subprocess.run(
        streamgraph(*args),
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def own_kafka() -> Any:
    """A LocalKafka of this test's own: a record needs its JVM's pids, which the session's
    broker (maybe someone else's, STREAMGRAPH_TEST_BROKERS) need not have."""
    with LocalKafka() as kafka:
        yield kafka


@pytest.mark.kafka
def test_the_order_is_flag_then_variable_then_recorded_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_kafka: LocalKafka
) -> None:
    monkeypatch.setenv("STREAMGRAPH_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("STREAMGRAPH_BROKERS", raising=False)
    default = choose_brokers(None)
    assert default.settings.brokers == "127.0.0.1:9092"
    assert "default" in default.source

    # a recorded broker whose JVM runs: found; a dead record: ignored
    records = broker_records.folder()
    live = broker_records.record(own_kafka, owner="streamgraph run (pid 1)")
    broker_records.save(records, broker_records.run_key(424242), live)
    dead = broker_records.BrokerState(
        "4.1.1", "127.0.0.1:1", [broker_records.NodeRecord(1, 999999, 1, "x", "y")]
    )
    broker_records.save(records, broker_records.run_key(999999), dead)
    recorded = choose_brokers(None)
    assert recorded.settings.brokers == own_kafka.bootstrap_servers
    assert recorded.source == "the local Kafka streamgraph run (pid 1) started"
    assert not (records / "run-999999.json").exists()  # a dead run's record is cleared

    monkeypatch.setenv("STREAMGRAPH_BROKERS", "10.1.1.1:9092")
    assert choose_brokers(None).settings.brokers == "10.1.1.1:9092"
    assert choose_brokers(None).source == "from STREAMGRAPH_BROKERS"
    assert choose_brokers("h:1").settings.brokers == "h:1"
    assert choose_brokers("h:1").source == "from --brokers"


UNREACHABLE = [
    ("send", "topologies.cyclic"),
    ("dlq", "replay", "cyclic-function"),
    ("inspect", "cyclic-function", "--request-id", "x"),
    ("topics", "topologies.cyclic"),
    ("run", "topologies.cyclic", "--exit-after-demo"),
    ("worker", "topologies.cyclic"),
]


@pytest.mark.parametrize("command", UNREACHABLE, ids=lambda c: " ".join(c[:2]))
def test_an_unreachable_broker_is_one_line_and_exit_1(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    [port] = free_ports(1)
    address = f"{HOST}:{port}"
    done = _cli(*command, "--brokers", address, env=_env(tmp_path), cwd=ROOT, stdin="{}\n")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    assert re.fullmatch(
        rf"Error: no Kafka broker answers at {re.escape(address)} \(from --brokers\): "
        r".*Connect call failed.*\. Start one with `streamgraph kafka start`, or point "
        r"STREAMGRAPH_BROKERS \(or --brokers\) at yours\.",
        errors[0],
    ), errors[0]
    for noise in ("Traceback", "Unclosed", "Task was destroyed", "Unable connect"):
        assert noise not in done.stdout + done.stderr


def test_the_error_says_where_the_address_came_from(tmp_path: Path) -> None:
    [port] = free_ports(1)
    env = _env(tmp_path, STREAMGRAPH_BROKERS=f"{HOST}:{port}")
    done = _cli("inspect", "f", "--request-id", "x", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert f"no Kafka broker answers at {HOST}:{port} (from STREAMGRAPH_BROKERS)" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_on_an_unreachable_broker_raises_one_clear_error(tmp_path: Path) -> None:
    script = (
        "import streamgraph as sg\n"
        "from streamgraph.testing import serve\n"
        "fn = sg.new_function('t')\n"
        "fn.set_topology('flow', engine='async').to(name='a', handler='(event)').respond()\n"
        f"serve(fn, engine='kafka', brokers='{HOST}:{free_ports(1)[0]}')\n"
    )
    done = subprocess.run(
        [os.sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 1
    assert "streamgraph.errors.BrokerUnreachableError: no Kafka broker answers at" in done.stderr
    assert "(given to serve())" in done.stderr
    for noise in ("Task was destroyed", "Unclosed", "Event loop is closed", "Unable connect"):
        assert noise not in done.stderr


def test_serve_raises_the_streamgraph_error_in_process() -> None:
    import streamgraph as sg

    fn = sg.new_function("t")
    fn.set_topology("flow", engine="async").to(name="a", handler="(event)").respond()
    with pytest.raises(BrokerUnreachableError, match="given to serve"):
        serve(fn, engine="kafka", brokers=f"{HOST}:{free_ports(1)[0]}")


@pytest.mark.kafka
@pytest.mark.timeout(400)
def test_commands_find_the_broker_run_started_from_another_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp_path / "state")
    log = tmp_path / "run.log"
    [port] = free_ports(1)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            streamgraph("run", "topologies.cyclic", "--port", str(port)),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        output = wait_for_text(log, "serving until Ctrl-C", popen, timeout=240)
        [address] = [
            line.split("=", 1)[1]
            for line in output.splitlines()
            if line.startswith("export STREAMGRAPH_BROKERS=")
        ]
        assert address != "127.0.0.1:9092"  # run's own broker, on a port of its own
        found = _cli("inspect", "cyclic-function", "--request-id", "nope", env=env, cwd=elsewhere)
        # it read the function's topics there: the id is just not among them
        assert "no records of request nope on the" in found.stderr, found.stderr
        status = _cli("kafka", "status", env=env, cwd=elsewhere)
        assert status.returncode == 0, status.stdout
        assert f"at {address}" in status.stdout and "streamgraph run (pid" in status.stdout
        popen.send_signal(signal.SIGINT)
        assert popen.wait(60) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    assert broker_records.recorded(tmp_path / "state" / "brokers") == []  # run cleared its record
    gone = _cli("kafka", "status", env=env, cwd=elsewhere)
    assert gone.returncode == 1 and "Kafka is not running" in gone.stdout
