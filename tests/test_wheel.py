"""The wheel holds `streamgraph` only; the examples are found from the repository root.

`agents` and `topologies` stay in the repository (installed as top-level packages they would
clash with a user's own): the `streamgraph` command puts its working folder first on sys.path,
so `streamgraph describe topologies.cyclic` works from the root, from another folder only with
PYTHONPATH, and otherwise fails in one line. The wheel is built offline (no build isolation:
the test extra installs the build backend) from a copy of the sources, so the checkout gets no
`build/` or `*.egg-info`.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's console scripts: streamgraph, faust
EXAMPLES = ("agents", "topologies")


def _env(pythonpath: str | None = None) -> dict[str, str]:
    """Ours without the checkout root the test session puts on PYTHONPATH (conftest.py)."""
    env = dict(os.environ)
    paths = [p for p in env.pop("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    paths = [pythonpath, *paths] if pythonpath else paths
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the sources (examples included: the build must leave them out)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("streamgraph", *EXAMPLES):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = _run([*argv, "-q", "-w", str(folder / "dist"), str(source)], folder, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = (folder / "dist").glob("streamgraph-*.whl")
    return built


@pytest.mark.timeout(120)
def test_the_wheel_holds_streamgraph_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    outside = [n for n in names if n.split("/")[0] not in ("streamgraph", info)]
    assert not outside, f"the wheel holds more than streamgraph: {outside}"
    assert top_level == ["streamgraph"]
    assert "streamgraph/py.typed" in names
    assert "streamgraph/serving/sklearn_server.py" in names  # hub://v2_model_server's default
    assert "streamgraph = streamgraph.cli:main" in entry_points


@pytest.mark.timeout(120)
def test_installed_the_examples_are_not_importable(wheel: Path, tmp_path: Path) -> None:
    """In a fresh venv (the wheel alone, no dependencies: nothing is imported), `streamgraph`
    comes from site-packages and neither `agents` nor `topologies` exists."""
    venv = tmp_path / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, _env())
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    done = _run([*install, "--no-deps", "--no-index", str(wheel)], tmp_path, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    probe = (
        "import importlib.util as u; "
        "print(u.find_spec('streamgraph').origin); "
        "print(u.find_spec('agents'), u.find_spec('topologies'))"
    )
    # -I: neither the working folder nor PYTHONPATH, only the venv
    done = _run([str(python), "-I", "-c", probe], tmp_path, _env())
    assert done.returncode == 0, done.stderr
    origin, examples = done.stdout.splitlines()
    assert Path(origin).is_relative_to(venv) and "site-packages" in origin
    assert examples == "None None"
    assert (venv / "bin" / "streamgraph").exists()


def test_the_package_names_no_example_module() -> None:
    """No import of `agents`/`topologies` in streamgraph, nor a class or module named by string
    (docstrings aside): an installed streamgraph would import a user's `agents` instead."""
    named = re.compile(rf"^({'|'.join(EXAMPLES)})(\.|$)")
    found = []
    for path in sorted((ROOT / "streamgraph").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if not node.level else []
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                modules = [] if id(node) in docstrings else [node.value]
            else:
                continue
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            found += [f"{where} {m}" for m in modules if named.match(m)]
    assert not found


def test_streamgraph_finds_the_examples_from_the_checkout_root() -> None:
    done = _run([str(BIN / "streamgraph"), "describe", "topologies.cyclic"], ROOT, _env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("function cyclic-function")


def test_elsewhere_one_line_unless_pythonpath(tmp_path: Path) -> None:
    argv = [str(BIN / "streamgraph"), "describe", "topologies.cyclic"]
    done = _run(argv, tmp_path, _env())
    assert done.returncode == 1
    assert done.stderr == (
        "Error: cannot import 'topologies.cyclic': No module named 'topologies' (looked in the "
        f"current folder, {tmp_path}, on PYTHONPATH and in site-packages)\n"
    )
    done = _run(argv, tmp_path, _env(pythonpath=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("function cyclic-function")


def test_deployed_processes_find_the_examples(tmp_path: Path) -> None:
    """The `streamgraph` command's working folder reaches the processes `run` and `deploy()`
    start through the PYTHONPATH they get: one that runs in another folder imports them."""
    script = f"""
import subprocess, sys
from streamgraph.cli import working_folder_first
from streamgraph.deploy import Deployment, worker_argv

working_folder_first()                       # what `streamgraph` does before any subcommand
from topologies.cyclic import function

deployment = Deployment(function, brokers="127.0.0.1:1")
deployment.brokers = "127.0.0.1:1"          # as start() sets it; nothing is started
argv = worker_argv("topologies.cyclic:function")
assert argv[1:4] == ["-m", "streamgraph.cli", "worker"], argv
argv[3:] = ["describe", "topologies.cyclic:function"]   # a worker's import, without a broker
done = subprocess.run(argv, cwd={str(tmp_path)!r}, env=deployment._env())
sys.exit(done.returncode)
"""
    # -P: like the console script, no working folder on sys.path until streamgraph puts it there
    done = _run([sys.executable, "-P", "-c", script], ROOT, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "function cyclic-function" in done.stdout


@pytest.mark.timeout(120)
def test_faust_finds_the_examples_from_the_checkout_root(tmp_path: Path) -> None:
    """The README's `faust -A topologies.NAME worker`: Faust imports the app with the working
    folder on sys.path (`mode.utils.imports.import_from_cwd`). `tables` needs no broker."""
    argv = [str(BIN / "faust"), "-A", "topologies.cyclic", "tables"]
    done = _run(argv, ROOT, _env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    elsewhere = _run(argv, tmp_path, _env())
    assert "No module named 'topologies'" in elsewhere.stderr


@pytest.mark.timeout(300)
def test_the_image_install_script_installs_the_wheel(wheel: Path, tmp_path: Path) -> None:
    """docker/install.sh, which the Dockerfile's final stage runs, installs this wheel and its
    dependencies (binary wheels from PyPI: needs the network) into a fresh environment where
    `streamgraph --version` and `streamgraph worker --help` work (no container engine here:
    the script is what the image runs, tested on its own)."""
    prefix = tmp_path / "opt-streamgraph"
    env = {**_env(), "PYTHON": sys.executable}
    argv = ["sh", str(ROOT / "docker" / "install.sh"), str(wheel), str(prefix)]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    streamgraph = prefix / "bin" / "streamgraph"
    assert not (prefix / "bin" / "pip").exists()  # the environment has no installer of its own
    version = _run([str(streamgraph), "--version"], tmp_path, _env())
    assert version.returncode == 0 and version.stdout.startswith("streamgraph, version ")
    help_text = _run([str(streamgraph), "worker", "--help"], tmp_path, _env())
    assert help_text.returncode == 0, help_text.stderr
    assert "--web-port" in help_text.stdout and "--metrics-port" in help_text.stdout


def test_the_dockerfile_installs_with_the_script() -> None:
    """The image's install steps are docker/install.sh's, run from the built wheel, as a
    non-root user; the build context holds only what the Dockerfile copies."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2
    assert "RUN sh /tmp/install.sh /tmp/dist/streamgraph-*.whl /opt/streamgraph" in dockerfile
    assert "pip install" not in dockerfile  # one place installs: the script
    assert "USER 10001:10001" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1] == "*" and "!docker/install.sh" in ignored
