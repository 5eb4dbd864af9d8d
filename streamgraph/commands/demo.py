"""A topology's demo requests (`DEMO_REQUESTS`): as curl lines, and sent over HTTP.

A topology module may expose `DEMO_REQUESTS: list[dict]`, each `{"path": ..., "body": ...,
"method": ...}` (method optional: POST with a body, else GET). A dict without "path" is a bare
body, sent as POST "/".
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import aiohttp

REQUEST_KEYS = frozenset({"path", "body", "method", "headers"})


@dataclass(frozen=True)
class DemoRequest:
    path: str
    body: Any
    method: str

    def line(self) -> str:
        body = "" if self.body is None else f" {json.dumps(self.body)}"
        return f"{self.method} {self.path}{body}"

    def curl(self, url: str) -> str:
        parts = ["curl", "-s", "-X", self.method, f"{url.rstrip('/')}/{self.path.lstrip('/')}"]
        if self.body is not None:
            parts += ["-H", "Content-Type: application/json", "-d", json.dumps(self.body)]
        return shlex.join(parts)


def demo_requests(module: Any) -> list[DemoRequest]:
    """The module's DEMO_REQUESTS, normalised; [] when it has none."""
    found = getattr(module, "DEMO_REQUESTS", None) or []
    requests = []
    for item in found:
        if isinstance(item, dict) and "path" in item and set(item) <= REQUEST_KEYS:
            body = item.get("body")
            method = item.get("method") or ("POST" if body is not None else "GET")
            requests.append(DemoRequest(str(item["path"]), body, str(method).upper()))
        else:
            requests.append(DemoRequest("/", item, "POST"))
    return requests


async def ask(session: aiohttp.ClientSession, url: str, request: DemoRequest) -> tuple[int, str]:
    """Send one demo request; its status and its answer as text (a stream read to its end)."""
    target = f"{url.rstrip('/')}/{request.path.lstrip('/')}"
    kwargs: dict[str, Any] = {} if request.body is None else {"json": request.body}
    async with session.request(request.method, target, **kwargs) as response:
        return response.status, (await response.text()).strip()


async def run_demos(url: str, requests: list[DemoRequest], echo: Any, timeout: float) -> int:
    """Send each request in turn and `echo` it with its answer; how many answered a 5xx."""
    failures = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        for request in requests:
            echo(request.line())
            try:
                status, text = await ask(session, url, request)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, text = 599, f"no answer: {exc!r}"
            failures += status >= 500
            echo(f"  -> {status} {_readable(text)}")
    return failures


def _readable(text: str) -> str:
    """An agent's answer (a JSON object with a text "answer") as its text; anything else as is."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("answer"), str):
        return show_answer(body)
    return text


def show_answer(body: dict[str, Any]) -> str:
    """An agent's answer: its text, its route through the graph, and any error."""
    lines = [body["answer"]]
    if body.get("route"):
        lines.append("route: " + " -> ".join(body["route"]))
    if body.get("error"):
        lines.append(f"error: {body['error']}")
    other = [k for k in body if k not in ("answer", "route", "error", "question")]
    if other:
        lines.append(f"(the JSON answer also has: {', '.join(other)})")
    return "\n     ".join("\n".join(lines).splitlines())


__all__ = ["DemoRequest", "ask", "demo_requests", "run_demos", "show_answer"]
