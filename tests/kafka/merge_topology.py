"""A 3-step flow with a Merge, for the exactly-once crash tests.

    enrich -> left  \
           -> right  -> join (Merge, a changelog-backed table) -> finish -> <prefix>.merge.out

Every event's answer needs both branches, so a Merge table's state that is lost or replayed
twice shows as a missing or doubled answer on the output topic.
"""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.engines.kafka import lazy_app


def enrich(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "enriched": True}


def left(body: dict[str, Any]) -> dict[str, Any]:
    return {"n": body["n"], "left": body["n"] * 2}


def right(body: dict[str, Any]) -> dict[str, Any]:
    return {"n": body["n"], "right": body["n"] * 3}


def finish(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"n": parts[0]["n"], "sum": parts[0]["left"] + parts[1]["right"]}


def build_function() -> sg.ServingFunction:
    function = sg.new_function(
        "merge", namespace={"enrich": enrich, "left": left, "right": right, "finish": finish}
    )
    graph = function.set_topology("flow", engine="async")
    graph.to(name="enrich", handler="enrich")
    graph.add_step(name="left", handler="left", after="enrich")
    graph.add_step(name="right", handler="right", after="enrich")
    graph.add_step("mlrun.serving.Merge", name="join", after=["left", "right"])
    graph.add_step(name="finish", handler="finish", after="join")
    return function


function = build_function()
__getattr__ = lazy_app(__name__)  # `app`: the Faust app, built on first use
