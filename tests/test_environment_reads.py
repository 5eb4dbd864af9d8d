"""The environment is read in streamgraph/settings.py and nowhere else (DESIGN.md).

Scans the source with `ast`: any `os.environ`, `os.environb`, `os.getenv` or `os.getenvb` (or
the same names imported from `os`) outside settings.py is a read, except `**os.environ` inside
a dict display: the whole environment handed on to a child process (`env={**os.environ, ...}`)
is not a setting this process reads.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("streamgraph", "agents", "topologies")
SETTINGS = ROOT / "streamgraph" / "settings.py"
ENV_NAMES = {"environ", "environb", "getenv", "getenvb"}


def _passed_on(tree: ast.AST) -> set[int]:
    """ids of `os.environ` nodes unpacked into a dict display (`{**os.environ, ...}`)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            found.update(id(v) for k, v in zip(node.keys, node.values, strict=True) if k is None)
    return found


def environment_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    passed_on = _passed_on(tree)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    reads = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and id(node) not in passed_on
        ):
            reads.append(f"{where}:{node.lineno}: os.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ENV_NAMES:
                    reads.append(f"{where}:{node.lineno}: from os import {alias.name}")
    return reads


def _sources() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py") if p != SETTINGS)


def test_only_settings_reads_the_environment() -> None:
    reads = [read for path in _sources() for read in environment_reads(path)]
    assert reads == [], "read the environment through streamgraph/settings.py:\n" + "\n".join(reads)


def test_the_scan_sees_each_read_and_allows_passing_the_environment_on(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom os import getenv\n"
        "a = os.environ.get('X')\nb = os.getenv('Y')\nc = os.environ['Z']\n"
        "env = {**os.environ, 'STREAMGRAPH_BROKERS': 'b:9092'}\n"
    )
    reads = sorted(environment_reads(sample))
    assert reads == [
        "sample.py:2: from os import getenv",
        "sample.py:3: os.environ",
        "sample.py:4: os.getenv",
        "sample.py:5: os.environ",
    ]


def test_no_other_settings_class_in_the_package() -> None:
    """pydantic-settings reads the environment too: streamgraph's one model is `Settings`."""
    found = []
    for path in (ROOT / "streamgraph").rglob("*.py"):
        if path == SETTINGS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")) == "BaseSettings"
                for base in node.bases
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}")
    assert found == []
