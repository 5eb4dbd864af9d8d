"""Scenarios: MLRun's request headers name the event id and path, on every engine."""

from __future__ import annotations

from typing import Any

import streamgraph as sg
from streamgraph.testing import serve


def identity(event: Any) -> dict[str, Any]:
    return {"id": event.id, "path": event.path, "method": event.method, "body": event.body}


def test_mlrun_headers_set_the_event_id_and_path(engine: str) -> None:
    fn = sg.new_function("headers", namespace={"identity": identity})
    fn.set_topology("flow").to(name="who", handler="identity", full_event=True).respond()
    server = serve(fn, engine=engine)
    answer = server.test(
        "/ignored",
        body={"x": 1},
        headers={"MLRUN-EVENT-ID": "order-17", "MLRUN-EVENT-PATH": "/v1/orders"},
    )
    assert answer == {"id": "order-17", "path": "/v1/orders", "method": "POST", "body": {"x": 1}}


def test_header_names_are_case_insensitive_and_the_method_defaults(engine: str) -> None:
    fn = sg.new_function("headers-case", namespace={"identity": identity})
    fn.set_topology("flow").to(name="who", handler="identity", full_event=True).respond()
    server = serve(fn, engine=engine)
    answer = server.test("/p", headers={"mlrun-event-id": "lower-1"})
    assert answer == {"id": "lower-1", "path": "/p", "method": "GET", "body": None}
    put = server.test("/p", body={"y": 2}, method="put")
    assert put["method"] == "PUT" and put["path"] == "/p" and put["id"] != "lower-1"


def test_the_default_answer_names_the_callers_event_id(engine: str) -> None:
    fn = sg.new_function("headers-ack")
    fn.set_topology("flow").to(name="a", handler="(event)")  # no responder: {"id": ...}
    server = serve(fn, engine=engine)
    assert server.test(body={"x": 1}, headers={"MLRUN-EVENT-ID": "e-42"}) == {"id": "e-42"}
