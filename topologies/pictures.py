"""Draw every example's graph into docs/<name>.svg: `python -m topologies.pictures [folder]`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

EXAMPLES = ("router", "shared_llm", "streaming", "cyclic", "trip_planner", "queue_child")


def draw(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXAMPLES:
        graph = importlib.import_module(f"topologies.{name}").function.spec.graph
        path = folder / f"{name}.svg"
        graph.plot(str(path), rankdir="LR")
        written.append(path)
    return written


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "docs"
    for path in draw(Path(sys.argv[1]) if len(sys.argv) > 1 else default):
        print(path)
