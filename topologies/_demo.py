"""Run a topology's `DEMO_REQUESTS` in process and print each answer (what `main()` does)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import streamgraph as sg


def run_demo(function: sg.ServingFunction, requests: list[dict[str, Any]]) -> None:
    """Each request is `{"path": ..., "body": ..., "method": optional}`."""
    server = function.to_mock_server()
    try:
        for request in requests:
            method = request.get("method") or ("POST" if request.get("body") is not None else "GET")
            path = request.get("path", "/")
            body = request.get("body")
            shown = json.dumps(body) if body is not None else ""
            print(f"{method} {path} {shown}".rstrip())
            response = server.test(path, body=body, method=method, get_body=False, silent=True)
            print(f"  -> {response.status_code} {_show(response.body)}\n")
    finally:
        server.wait_for_completion()


def _show(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body.rstrip()
    if isinstance(body, dict | list):
        return json.dumps(body, indent=2, default=str).replace("\n", "\n     ")
    if isinstance(body, Iterable):  # a streamed answer: its chunks, joined
        return "".join(str(chunk) for chunk in body).rstrip()
    return repr(body)
