"""The examples' tests use the scripted LLM, whatever the machine's environment says."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_configured_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY", "BASE_URL", "MODEL"):
        monkeypatch.delenv(f"STREAMGRAPH_LLM_{name}", raising=False)
