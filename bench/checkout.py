"""The repository's examples for the benchmarks that run them (`import checkout` first).

`topologies` and `agents` are not installed with streamgraph: they are imported from the
repository. A benchmark run as `.venv/bin/python bench/NAME.py` has `bench/` on its module search
path, not the repository root, and starts workers in folders of their own; importing this module
puts the root first on `sys.path` and on the PYTHONPATH those processes inherit (its other
entries made absolute: `PYTHONPATH=tests/kafka` names the same folder for a worker elsewhere).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_paths = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(ROOT), *_paths]))
