"""Which LLM the examples use: the scripted provider, or a configured OpenAI-compatible one.

An LLM counts as configured when `STREAMGRAPH_LLM_API_KEY` or `STREAMGRAPH_LLM_BASE_URL` is
set (a local vLLM or Ollama server needs no key); the model is `STREAMGRAPH_LLM_MODEL`.
"""

from __future__ import annotations

from streamgraph.settings import Settings


def configured_llm_url(settings: Settings | None = None) -> str | None:
    """`openai://<model>` when an OpenAI-compatible endpoint is configured, else None."""
    settings = settings or Settings()
    if settings.llm_api_key or "llm_base_url" in settings.model_fields_set:
        return f"openai://{settings.llm_model}"
    return None


__all__ = ["configured_llm_url"]
