"""Settings of the bundled examples (topologies/), read from `STREAMGRAPH_EXAMPLE_*` variables.

streamgraph's own settings live in `streamgraph/settings.py`; these only tune the examples.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamgraph.settings import Settings


def default_log_ds_path() -> Path:
    """`<state folder>/examples/log-ds.jsonl` (streamgraph/settings.py `state_folder()`)."""
    return Settings().state_folder() / "examples" / "log-ds.jsonl"


class ExampleSettings(BaseSettings):
    """`STREAMGRAPH_EXAMPLE_MODELS_DIR=/tmp/models` and so on."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMGRAPH_EXAMPLE_", frozen=True, extra="ignore"
    )

    models_dir: Path = Field(
        Path.home() / ".cache" / "streamgraph" / "models",
        description="Where the router example keeps its iris models (trained there if missing).",
    )
    stream_chunks: int = Field(
        5, ge=0, description="How many chunks the streaming example yields per request."
    )
    stream_delay_seconds: float = Field(
        0.5, ge=0, description="Pause before each chunk of the streaming example (simulated work)."
    )
    log_ds_path: Path = Field(
        default_factory=default_log_ds_path,
        description="The JSON-lines file the queue/child example's `save_record` appends to "
        "(default: `examples/log-ds.jsonl` in streamgraph's per-user state folder, "
        "`STREAMGRAPH_STATE_DIR`, never the current folder).",
    )


__all__ = ["ExampleSettings", "default_log_ds_path"]
