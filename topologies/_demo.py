"""Run a topology's `DEMO_REQUESTS` in process and print each answer (what `main()` does)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import streamgraph as sg
from streamgraph.commands.demo import show_answer


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
            if _is_stream(response.body):
                print(f"  -> {response.status_code}, streamed:")
                for chunk in response.body:  # printed as each chunk is produced
                    print(f"     {str(chunk).rstrip()}", flush=True)
                print()
            else:
                print(f"  -> {response.status_code} {_show(response.body)}\n")
    finally:
        server.wait_for_completion()


def _is_stream(body: Any) -> bool:
    plain = str | bytes | bytearray | dict | list
    return isinstance(body, Iterable) and not isinstance(body, plain)


def _show(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("answer"), str):
        return show_answer(body)
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        return body.rstrip()
    text = json.dumps(body, default=str, ensure_ascii=False)
    if len(text) > 90:  # long answers: one field a line
        text = json.dumps(body, indent=2, default=str, ensure_ascii=False)
        text = text.replace("\n", "\n     ")
    return text
