"""One step that holds the worker's event loop while the file $GATE exists (the lag tests)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def hold(body: Any) -> Any:
    gate = Path(os.environ["GATE"])
    if gate.exists():
        gate.with_suffix(".held").touch()
    while gate.exists():  # blocking on purpose: the worker takes no record meanwhile
        time.sleep(0.05)
    return body


function = sg.new_function("gated", namespace={"hold": hold})
function.set_topology("flow").to(name="hold", handler="hold").respond()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
