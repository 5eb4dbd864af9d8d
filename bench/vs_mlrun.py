"""Benchmark: streamgraph's mock server against MLRun's, same graphs, same code, same run.

Rows, each through `fn.to_mock_server()` and `server.test(...)`:
  flow           a 3-step sync flow of a plain function (x + 1), `engine="sync"`
  router echo    `/v2/models/m/infer` on a router, a V2ModelServer whose model sums the rows
                 (the serving path is what is measured, as in bench/serving.py)
  router sklearn `/v2/models/iris/infer` on a router, a V2ModelServer wrapping a
                 LogisticRegression trained on sklearn's iris in `load()`

The workload code is the same for both sides but for the import (`import mlrun` or
`import streamgraph`). Each side runs in a process of its own, started once: MLRun in a
separate virtual environment (`.bench/mlrun-venv`, made and filled on first use: mlrun is not a
dependency of streamgraph), streamgraph in this one. A row is timed in slices that alternate
between the sides (each process answers a slice's requests/s as JSON), and each side's figure is
its best slice, so the two figures of a ratio see the same load on this shared machine.
Printed: each side's range over the `--runs` runs, and the range of the per-run ratio
streamgraph/MLRun.

    .venv/bin/python bench/vs_mlrun.py [--requests N] [--runs K] [--fast] [--streamgraph-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLRUN_VENV = ROOT / ".bench" / "mlrun-venv"
MLRUN_VERSION = "1.12.1"
ROWS = ("flow", "router echo", "router sklearn")
SLICES = 5  # timed slices per side, row and run
# the sklearn row predicts one row per request (~40 us of sklearn's own work): fewer requests
SLOW_ROWS = {"router sklearn": 10}
ECHO_BODY = {"inputs": [[1, 2, 3]]}
IRIS_BODY = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}


# -- the workload: the same code on both sides, but for the import ---------------------------
def inc(x: int) -> int:
    return x + 1


def model_classes(base: type) -> dict[str, type]:
    """The model servers, on `base` (MLRun's or streamgraph's V2ModelServer)."""

    class EchoModel(base):  # type: ignore[valid-type,misc]
        def load(self) -> None:
            self.model = lambda rows: [sum(r) for r in rows]

        def predict(self, request: dict[str, Any]) -> Any:
            return self.model(request["inputs"])

    class IrisModel(base):  # type: ignore[valid-type,misc]
        def load(self) -> None:
            from sklearn.datasets import load_iris
            from sklearn.linear_model import LogisticRegression

            x, y = load_iris(return_X_y=True)
            self.model = LogisticRegression(max_iter=1000).fit(x, y)

        def predict(self, request: dict[str, Any]) -> Any:
            return self.model.predict(request["inputs"]).tolist()

    return {"EchoModel": EchoModel, "IrisModel": IrisModel}


def build_servers(side: str) -> dict[str, Callable[[int], Any]]:
    """One call per row: `call(i)` sends request i through that row's mock server."""
    if side == "mlrun":
        import mlrun as api
        from mlrun.serving import V2ModelServer
    else:
        import streamgraph as api
        from streamgraph import V2ModelServer
    namespace: dict[str, Any] = {"inc": inc, **model_classes(V2ModelServer)}

    fn = api.new_function("bench-flow", kind="serving")
    graph = fn.set_topology("flow", engine="sync")
    step = graph
    for i in range(3):
        step = step.to(name=f"s{i}", handler="inc")
    flow = fn.to_mock_server(namespace=namespace)

    routers = {}
    for key, cls in (("m", "EchoModel"), ("iris", "IrisModel")):
        fn = api.new_function(f"bench-router-{key}", kind="serving")
        fn.set_topology("router")
        fn.add_model(key, class_name=cls)
        routers[key] = fn.to_mock_server(namespace=namespace)
    echo, iris = routers["m"], routers["iris"]
    return {
        "flow": lambda i: flow.test(body=i),
        "router echo": lambda i: echo.test("/v2/models/m/infer", body=ECHO_BODY),
        "router sklearn": lambda i: iris.test("/v2/models/iris/infer", body=IRIS_BODY),
    }


def check(row: str, answer: Any) -> Any:
    """What each row must answer to request 1 (the same on both sides)."""
    if row == "flow":
        assert answer == 4, answer
        return answer
    assert isinstance(answer, dict), answer
    return answer["outputs"]


def rate(call: Callable[[int], Any], requests: int) -> float:
    """Requests per second of `call` over `requests` calls (GC off while timing)."""
    gc.disable()
    start = time.perf_counter()
    for i in range(requests):
        call(i)
    elapsed = time.perf_counter() - start
    gc.enable()
    return requests / elapsed


def child(side: str) -> None:
    """Serve measurements: a first JSON line (version, answers), then for each line
    `<row> <requests>` read from stdin, one timed slice: a line `{"rate": ...}`."""
    calls = build_servers(side)
    answers = {row: check(row, call(1)) for row, call in calls.items()}
    if side == "mlrun":
        import mlrun

        version = mlrun.__version__
    else:
        import streamgraph

        version = getattr(streamgraph, "__version__", "dev")
    print(json.dumps({"side": side, "version": version, "answers": answers}), flush=True)
    warm: set[str] = set()
    for line in sys.stdin:
        row, _, requests = line.strip().rpartition(" ")
        if row not in warm:
            warm.add(row)
            rate(calls[row], min(2000, int(requests)))
        print(json.dumps({"rate": rate(calls[row], int(requests))}), flush=True)


# -- the parent: the MLRun environment, interleaved runs, the table ---------------------------
def mlrun_python() -> Path:
    """The MLRun venv's python, making the venv and installing MLRun on first use."""
    python = MLRUN_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mlrun, sklearn; print(mlrun.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {MLRUN_VENV.relative_to(ROOT)} (MLRun is big: a few minutes)", flush=True)
    venv.create(MLRUN_VENV, with_pip=True, clear=True)
    pip = [str(python), "-m", "pip", "install", "--progress-bar", "off"]
    _pip([*pip, "--upgrade", "pip"])
    if _pip([*pip, f"mlrun=={MLRUN_VERSION}", "scikit-learn"]) != 0:
        print(f"mlrun=={MLRUN_VERSION} did not install: trying the newest 1.x", flush=True)
        if _pip([*pip, "mlrun>=1,<2", "scikit-learn"]) != 0:
            sys.exit("could not install mlrun into " + str(MLRUN_VENV))
    found = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    print(f"installed mlrun {found}", flush=True)
    return python


def _pip(command: list[str]) -> int:
    """Run pip, printing its progress lines as they come (an install takes minutes)."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as p:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith(("Collecting", "Installing", "Successfully", "ERROR")):
                print("  pip: " + line.rstrip()[:100], flush=True)
    return p.returncode


class Side:
    """One side's measuring process, resident for the whole run (started once, asked per row,
    so the two sides' measurements of a row are next to each other in time)."""

    def __init__(self, side: str, python: Path) -> None:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if side == "mlrun":
            # no MLRun API service here: the mock server needs none; keep MLRun's logs quiet
            env.update({"MLRUN_DBPATH": "", "MLRUN_LOG_LEVEL": "ERROR"})
        self.name = side
        self.process = subprocess.Popen(
            [str(python), __file__, "--child", side],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.info = self._read()

    def measure(self, row: str, requests: int) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{row} {requests}\n")
        self.process.stdin.flush()
        return float(self._read()["rate"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # (MLRun logs to stdout too: skip its lines)
            if line.startswith("{"):
                result: dict[str, Any] = json.loads(line)
                return result
        sys.exit(f"the {self.name} process ended ({self.process.wait()}), see its errors above")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return format(low, fmt) if len(values) == 1 else f"{low:{fmt}}-{high:{fmt}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50_000, help="per timed slice")
    parser.add_argument("--runs", type=int, default=3, help="interleaved pairs of processes")
    parser.add_argument(
        "--fast", action="store_true", help="a smoke test: 1 run of 1,000-request slices"
    )
    parser.add_argument("--streamgraph-only", action="store_true", help="no MLRun side")
    parser.add_argument("--child", choices=("mlrun", "streamgraph"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fast:
        args.requests, args.runs = 1000, 1
    if args.child:
        child(args.child)
        return

    pythons = {"streamgraph": Path(sys.executable)}
    if not args.streamgraph_only:
        pythons["mlrun"] = mlrun_python()
    sides = {name: Side(name, python) for name, python in pythons.items()}
    rates: dict[str, dict[str, list[float]]] = {name: {row: [] for row in ROWS} for name in sides}
    try:
        for run in range(args.runs):
            for row in ROWS:
                requests = max(1, args.requests // SLOW_ROWS.get(row, 1))
                best = dict.fromkeys(sides, 0.0)
                # slices alternate between the sides, who goes first alternates between runs;
                # each side's figure is its best slice: the one least disturbed by other load
                for _ in range(SLICES):
                    for name in sorted(sides, reverse=run % 2 == 1):
                        best[name] = max(best[name], sides[name].measure(row, requests))
                for name, value in best.items():
                    rates[name][row].append(value)
            shown = "; ".join(
                f"{row}: " + ", ".join(f"{name} {rates[name][row][-1]:,.0f}/s" for name in sides)
                for row in ROWS
            )
            print(f"run {run + 1}/{args.runs}: {shown}", flush=True)
    finally:
        for side in sides.values():
            side.close()

    if "mlrun" in sides:
        for row in ROWS:  # both sides answered the same
            assert sides["mlrun"].info["answers"][row] == sides["streamgraph"].info["answers"][row]
    versions = ", ".join(f"{name} {side.info['version']}" for name, side in sides.items())
    print()
    print(
        f"{args.runs} interleaved runs, {args.requests} requests per slice (sklearn row: ", end=""
    )
    print(f"{args.requests // SLOW_ROWS['router sklearn']}), best of {SLICES} slices; {versions}")
    print(f"{'row':<16}{'MLRun req/s':>20}{'streamgraph req/s':>22}{'ratio sg/MLRun':>18}")
    for row in ROWS:
        sg = rates["streamgraph"][row]
        if "mlrun" in sides:
            ml = rates["mlrun"][row]
            ratios = [s / m for s, m in zip(sg, ml, strict=True)]
            print(f"{row:<16}{span(ml, ',.0f'):>20}{span(sg, ',.0f'):>22}{span(ratios, '.2f'):>18}")
        else:
            print(f"{row:<16}{'-':>20}{span(sg, ',.0f'):>22}{'-':>18}")


if __name__ == "__main__":
    main()
