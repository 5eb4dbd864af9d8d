"""Rule-based steps for the guide's evaluator-optimizer loop (the `cyclic` example).

A generator drafts an answer, an evaluator scores it, and a choice step sends the draft back
to the generator until it is good enough: a deterministic stand-in for an LLM pair.
"""

from __future__ import annotations

from typing import Any

from streamgraph.steps import Choice


class Processor:
    """Normalises the request: a topic and how many points the answer must cover."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        topic = str(body.get("topic", "")).strip()
        if not topic:
            raise ValueError("the request needs a 'topic'")
        return {"topic": topic, "min_points": int(body.get("min_points", 3)), "draft": []}


class Generator:
    """Adds one point to the draft per visit (an LLM would rewrite it)."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        draft = [*body["draft"], f"point {len(body['draft']) + 1} about {body['topic']}"]
        return {**body, "draft": draft}


class Evaluator:
    """Scores the draft: the share of the required points it covers."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        score = min(1.0, len(body["draft"]) / body["min_points"])
        return {**body, "score": round(score, 3)}


class ChoiceHandler(Choice):
    """Back to the generator until the score reaches 1.0, then on to the output."""

    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return ["output"] if body["score"] >= 1.0 else ["generator"]


def responder(body: dict[str, Any]) -> dict[str, Any]:
    return {"topic": body["topic"], "answer": body["draft"], "score": body["score"]}


class HandleError:
    """The graph's error handler: a clear answer instead of a failure."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, event: Any) -> dict[str, Any]:
        return {"error": event.error, "step": event.origin_state}

    full_event = True
