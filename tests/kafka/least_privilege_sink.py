"""The child function's code of least_privilege_topology.py: append each event to LP_SINK_PATH."""

from __future__ import annotations

import os
from typing import Any

import orjson


def sink(body: dict[str, Any]) -> dict[str, Any]:
    with open(os.environ["LP_SINK_PATH"], "ab") as out:
        out.write(orjson.dumps(body) + b"\n")
    return body
