"""A parent function that queues events to a child function (run as two worker processes)."""

from __future__ import annotations

import os
from typing import Any

import orjson

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def save_record(event: dict[str, Any]) -> dict[str, Any]:
    """The child's step: append the record to the JSON-lines file named by SHOP_LOG."""
    with open(os.environ["SHOP_LOG"], "ab") as log:
        log.write(orjson.dumps(event) + b"\n")
    return event


def build_function() -> sg.ServingFunction:
    fn = sg.new_function("shop", namespace={"save_record": save_record})
    fn.add_child_function("audit")
    graph = fn.set_topology("flow")
    graph.to(name="parse", handler="(event)").to(
        "storey.Extend", name="tag", _fn='({"tagged": True})'
    ).to(">>", "q", path=f"{os.environ.get('STREAMGRAPH_TOPIC_PREFIX', 'sg')}.shop-audit").to(
        name="store", handler="save_record", function="audit"
    )
    return fn


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
