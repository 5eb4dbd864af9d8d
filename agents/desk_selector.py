"""`MyModelSelector` of the guide's shared-LLM example: which desk answers a question."""

from __future__ import annotations

import re
from typing import Any

import streamgraph as sg

FINANCE_WORDS = re.compile(
    r"\b(stocks?|shares?|bonds?|gold|bitcoin|crypto|inflation|interest|rates?|mortgage|"
    r"savings?|invest\w*|markets?|bank\w*|pension|dividends?|budget|loan|prices?)\b",
    re.IGNORECASE,
)


class MyModelSelector(sg.ModelSelector):
    """`{"topic": "finance" | "sport"}` decides; without it, finance words pick finance."""

    def select_models(self, event: Any, available_models: list[str]) -> list[str]:
        body = event if isinstance(event, dict) else {}
        topic = str(body.get("topic") or "").lower()
        if not topic:
            topic = "finance" if FINANCE_WORDS.search(str(body.get("question", ""))) else "sport"
        if topic not in ("finance", "sport"):
            raise ValueError(f"topic {topic!r}: this graph answers 'finance' or 'sport'")
        return [f"{topic}_endpoint"]


__all__ = ["MyModelSelector"]
