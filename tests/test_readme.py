"""README.md runs as written: every ```python block and every ```bash block a script can run.

The README is parsed; each fenced block is named by its section heading (`Heading`, or
`Heading #n` when the section has several blocks). Each block is a test of its own (a "unit"),
but for the blocks UNITS groups, which only work together; units run in README order, from the
repo root, each with a state folder of its own (`STREAMGRAPH_STATE_DIR`), `.venv/bin` first on
the PATH and `STREAMGRAPH_BROKERS` naming the test session's broker (`kafka_broker`; unset for
NO_BROKERS), as a reader's shell would have them after the README's first steps. Before
running, the text is changed in these ways only:

- `8080` and `9108` (the gateway's and the metrics' ports) become free ports;
- `127.0.0.1:9092` becomes the session broker's address; but in a unit that starts its own
  broker (`streamgraph kafka start`), that command gets `--port P` of a free port and
  `127.0.0.1:9092` becomes `127.0.0.1:P`.

A ```python block runs as a script (`python block.py`, finding the examples as a script saved in
the repository root does); one that defines `test_` functions is a test file and runs under
pytest. Nothing else puts the examples on the module search path: the commands find them in the
working folder, the repository root. Consecutive ```bash blocks of a unit run as one `bash -e`
script (one terminal), in a new session; what they leave running in the background (`cmd &`)
is stopped at the end of the unit by its process group (SIGTERM, then SIGKILL), and a broker
`kafka start` left is stopped with `streamgraph kafka stop`.

Blocks that cannot run here are in NOT_RUN with the reason; the test fails when one of them is
no longer in the README (so the list stays true) and runs every other block, new ones included.
Output comments (`# ...`) are documentation; CHECKS holds the few facts checked in the output.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamgraph.broker.probe import free_ports

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # the venv's bin (the README's `.venv/bin`)

NOT_RUN = {
    "The image": "needs a container engine (docker build, push); none on the CI machine. "
    "tests/test_wheel.py runs docker/install.sh, the image's install steps, from the wheel",
    "streamgraph #1": "`make run` and `make test` install into .venv (network) and `make test` "
    "runs the whole suite, this test included; tests/cli/test_run.py runs what `make run` runs",
    "The whole stack in one command #1": "alternative ways to start one command, each serving "
    "until Ctrl-C (one on a placeholder host:9092); tests/cli/test_run.py runs them",
    "Tracing #2": "needs Docker (Jaeger's image); no Docker engine on the CI machine",
    "Connecting to a secured cluster #1": "a Confluent Cloud host, beyond this machine; "
    "tests/cli/test_secured_cluster.py runs the same properties file form (and `faust -A "
    "topologies.cyclic worker`) against the local secured broker",
    "Connecting to a secured cluster #2": "an MSK host, beyond this machine; "
    "tests/cli/test_secured_cluster.py runs SCRAM-SHA-512, mutual TLS and OAUTHBEARER against "
    "the local secured broker",
}

# blocks that only work together, in this order, in one shell (a reader's one terminal)
UNITS = {
    # the worker started in #1 answers the gateway of #2, which stops them and the broker
    "On Kafka": ["On Kafka #1", "On Kafka #2"],
    # `run` serves the requests `inspect` then follows; with no STREAMGRAPH_BROKERS, so that
    # `inspect` finds the broker `run` started by itself (broker discovery)
    "Deadlines, then Inspecting a request": ["Deadlines", "Inspecting a request"],
    # the server of #1, in the background, answers OpenAI's client (#2) and curl (#3)
    "OpenAI's clients": ["OpenAI's clients #1", "OpenAI's clients #2", "OpenAI's clients #3"],
}
NO_BROKERS = {"Deadlines, then Inspecting a request"}

# facts checked in a unit's output (stdout and stderr); the rest only has to exit with 0
CHECKS = {
    "streamgraph #2": ["Usage: streamgraph"],
    "The API in one example": ["3\n"],
    "Serving models #1": ["'model_name': 'model1', 'outputs': [0]}", "['model1', 'model2:v2']"],
    "Serving models #2": ["'answer': 'Finance desk: gold is no get-rich-quick trade"],
    "The whole stack in one command #2": ["'answer': ['point 1 about x', 'point 2 about x']"],
    "OpenAI's clients": ["['open-ai-tut']", "Finance desk: gold", "Sports desk: in tennis"],
    "On Kafka": ['"answer":["point 1 about kafka","point 2 about kafka"]', "point 2 about curl"],
    "Readiness": [
        "cannot be reached yet",
        "entry topic sg.cyclic-function.in does not exist yet",
        '"status": "ready"',
        "streamgraph_partitions_owned{",
    ],
    "Tracing #1": ['"name": "step generator"'],
    "Deadlines, then Inspecting a request": [
        "HTTP/1.1 504",
        "GatewayTimeoutError: no reply within",
        "10 records of request",
        '"order-42"',
    ],
}
UNIT_TIMEOUT = 150.0  # seconds for a unit's blocks (a broker start, workers, requests)
STOP_TIMEOUT = 30.0  # for background jobs to stop on SIGTERM (a `run` stops its whole stack)


@dataclass
class Block:
    name: str
    lang: str
    text: str


@dataclass
class Unit:
    name: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def shell(self) -> str:
        return "\n".join(b.text for b in self.blocks if b.lang == "bash")

    @property
    def own_broker(self) -> bool:
        return "streamgraph kafka start" in self.shell

    @property
    def needs_kafka(self) -> bool:
        text = re.sub(r"(^|\s)#.*", "", self.shell)  # the commands, not their comments
        without_local = re.sub(r"streamgraph run [^\n]*--local[^\n]*", "", text)
        python = "\n".join(b.text for b in self.blocks if b.lang == "python")
        return bool(
            re.search(
                r"\b(kafka|kcat|faust|gateway|worker|inspect|streamgraph run)\b", without_local
            )
            or ".deploy(" in python
            or self.name in NO_BROKERS
        )


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, named by its heading (`Heading #n` where a section has several)."""
    found: list[tuple[str, str, str]] = []
    heading, fence, lines = "", None, []
    for line in text.splitlines():
        if fence is None:
            if line.startswith("```"):
                fence, lines = line[3:].strip(), []
            elif re.match(r"#{1,6} ", line):
                heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            found.append((heading, fence, "\n".join(lines) + "\n"))
            fence = None
        else:
            lines.append(line)
    assert fence is None, "README.md: a code block is not closed"
    per_heading: dict[str, int] = {}
    for heading, _, _ in found:
        per_heading[heading] = per_heading.get(heading, 0) + 1
    blocks, seen = [], dict.fromkeys(per_heading, 0)
    for heading, lang, body in found:
        seen[heading] += 1
        name = heading if per_heading[heading] == 1 else f"{heading} #{seen[heading]}"
        blocks.append(Block(name, lang, body))
    return blocks


def readme_units() -> list[Unit]:
    """The runnable blocks, grouped as UNITS says, in README order."""
    blocks = [b for b in readme_blocks(README.read_text()) if b.lang in ("python", "bash")]
    unit_of = {block: unit for unit, names in UNITS.items() for block in names}
    units: dict[str, Unit] = {}
    for block in blocks:
        if block.name in NOT_RUN:
            continue
        name = unit_of.get(block.name, block.name)
        units.setdefault(name, Unit(name)).blocks.append(block)
    return list(units.values())


def _params() -> list[Any]:
    return [pytest.param(unit, id=unit.name, marks=_marks(unit)) for unit in readme_units()]


def _marks(unit: Unit) -> list[Any]:
    kafka = [pytest.mark.kafka] if unit.needs_kafka else []
    # its 0.05 s deadline must pass on the way, not before the broker took the request (503)
    return [*kafka, pytest.mark.serial] if unit.name in TIMING_SENSITIVE else kafka


#: units whose expected output depends on timing: run alone (tests/run_suite.py)
TIMING_SENSITIVE = {"Deadlines, then Inspecting a request"}


def test_the_lists_name_blocks_the_readme_has() -> None:
    blocks = readme_blocks(README.read_text())
    names = {b.name for b in blocks}
    gone = sorted(set(NOT_RUN) - names)
    assert not gone, f"listed as not run but no longer in README.md: {gone}; update NOT_RUN"
    grouped = {name for names in UNITS.values() for name in names}
    assert not grouped - names, f"in UNITS, not in README.md: {sorted(grouped - names)}"
    assert not set(CHECKS) - {u.name for u in readme_units()}, "CHECKS names no unit"
    assert not TIMING_SENSITIVE - {u.name for u in readme_units()}, "TIMING_SENSITIVE names none"
    assert {b.lang for b in blocks if b.name in NOT_RUN} <= {"bash", "python"}
    assert len([b for b in blocks if b.lang == "python"]) >= 6  # the parser found the blocks


@pytest.mark.timeout(UNIT_TIMEOUT + 2 * STOP_TIMEOUT + 60)
@pytest.mark.parametrize("unit", _params())
def test_readme_block_runs(unit: Unit, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    broker = request.getfixturevalue("kafka_broker").bootstrap_servers if unit.needs_kafka else ""
    env = _environment(unit, tmp_path, broker)
    substitutions = _substitutions(unit, broker)
    before = _root_entries()
    output = ""
    with _background_jobs(unit, env) as started:
        deadline = time.monotonic() + UNIT_TIMEOUT
        for i, (lang, text) in enumerate(_steps(unit)):
            text = _substitute(text, substitutions)
            out, code = _run_step(lang, text, tmp_path / f"step{i}", env, deadline, started)
            output += out
            assert code == 0, f"{unit.name}: step {i} ({lang}) exited with {code}:\n{text}\n{out}"
    for fact in CHECKS.get(unit.name, []):
        assert fact in output, f"{unit.name}: no {fact!r} in its output:\n{output[-6000:]}"
    left = _root_entries() - before
    assert not left, f"{unit.name} left {sorted(left)} in the current folder (the repo root)"


# -- running ------------------------------------------------------------------------------------
def _steps(unit: Unit) -> Iterator[tuple[str, str]]:
    """The unit's blocks in order; consecutive bash blocks joined into one script."""
    shell: list[str] = []
    for block in unit.blocks:
        if block.lang == "bash":
            shell.append(block.text)
            continue
        if shell:
            yield "bash", "\n".join(shell)
            shell = []
        yield block.lang, block.text
    if shell:
        yield "bash", "\n".join(shell)


def _environment(unit: Unit, tmp_path: Path, broker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGRAPH_")}
    if "STREAMGRAPH_KAFKA_HOME" in os.environ:  # where the broker's jars are (offline)
        env["STREAMGRAPH_KAFKA_HOME"] = os.environ["STREAMGRAPH_KAFKA_HOME"]
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    # the examples come from the working folder, the repository root, as in a reader's shell:
    # not from the PYTHONPATH entry the test session adds for its own processes (conftest.py)
    paths = [p for p in env.pop("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env["STREAMGRAPH_STATE_DIR"] = str(tmp_path / "state")
    if broker and unit.name not in NO_BROKERS:
        env["STREAMGRAPH_BROKERS"] = broker
    return env


def _substitutions(unit: Unit, broker: str) -> list[tuple[str, str]]:
    gateway, metrics, own = free_ports(3)
    pairs = [(r"\b8080\b", str(gateway)), (r"\b9108\b", str(metrics))]
    if unit.own_broker:
        pairs.append((r"streamgraph kafka start\b", f"streamgraph kafka start --port {own}"))
        pairs.append((r"127\.0\.0\.1:9092\b", f"127.0.0.1:{own}"))
    elif broker:
        pairs.append((r"127\.0\.0\.1:9092\b", broker))
    return pairs


def _substitute(text: str, pairs: list[tuple[str, str]]) -> str:
    for pattern, replacement in pairs:
        text = re.sub(pattern, replacement, text)
    return text


def _run_step(
    lang: str,
    text: str,
    folder: Path,
    env: dict[str, str],
    deadline: float,
    started: list[subprocess.Popen[bytes]],
) -> tuple[str, int]:
    """Run one step; its output (stdout then stderr) and exit status."""
    folder.mkdir(parents=True)
    if lang == "bash":
        script = folder / "block.sh"
        argv = ["bash", "-e", str(script)]
    elif re.search(r"^def test_", text, re.MULTILINE):  # a test file: run it as pytest would
        script = folder / "test_readme_block.py"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        argv += ["--rootdir", str(folder)]
    else:
        script = folder / "readme_block.py"
        argv = [sys.executable, str(script)]
        # a script finds the modules of its own folder: the reader's, saved in the repository
        # root as the README says, imports the examples from there
        paths = [str(ROOT), *env.get("PYTHONPATH", "").split(os.pathsep)]
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    script.write_text(text)
    stdout, stderr = folder / "stdout", folder / "stderr"
    # files, not pipes: a background job keeps a pipe open after the script is done
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
    started.append(process)  # its process group holds the background jobs it leaves
    try:
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = -1
    text_out = stdout.read_text(errors="replace") + stderr.read_text(errors="replace")
    if code == -1:
        text_out += f"\n(still running after the unit's {UNIT_TIMEOUT:.0f} s)"
    return text_out, code


@contextmanager
def _background_jobs(unit: Unit, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The unit's step processes, each the leader of a process group with what it left running
    in the background: stopped on exit, then the broker `kafka start` left (if any)."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            _stop_group(process)
        if unit.own_broker:
            subprocess.run(
                [str(BIN / "streamgraph"), "kafka", "stop", "--timeout", "10"],
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group (a `run` then stops what it started), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        until = time.monotonic() + wait
        while time.monotonic() < until:
            process.poll()  # (reaps the step's own process, else a zombie keeps the group)
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _root_entries() -> set[str]:
    caches = {".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}
    return {p.name for p in ROOT.iterdir()} - caches
