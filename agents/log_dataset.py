"""The steps of the guide's queue and child function example (its `nuclio_log_dataset.py`).

`print_event` runs in the parent; `save_record` and `print_event_log` in the child function
`log-ds`, which reads the parent's queue. `save_record` appends each record of an event
(`{"records": [...]}`, or the event itself) as one JSON line to
`STREAMGRAPH_EXAMPLE_LOG_DS_PATH` (default: `examples/log-ds.jsonl` in streamgraph's per-user
state folder, `STREAMGRAPH_STATE_DIR` or ~/.local/state/streamgraph), with the event's other
fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from agents.config import ExampleSettings


def print_event(event: Any) -> Any:
    print(f"event: {event}", flush=True)
    return event


def save_record(event: Any) -> Any:
    """Append the event's records to the log file; one write per event."""
    if isinstance(event, dict) and isinstance(event.get("records"), list):
        records, extra = event["records"], {k: v for k, v in event.items() if k != "records"}
    else:
        records, extra = [event], {}
    lines = b"".join(
        orjson.dumps({**r, **extra} if isinstance(r, dict) else r) + b"\n" for r in records
    )
    path = ExampleSettings().log_ds_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as log:
        log.write(lines)
    return {**event, "saved": len(records)} if isinstance(event, dict) else event


def print_event_log(event: Any) -> Any:
    print(f"logged: {event}", flush=True)
    return event


__all__ = ["print_event", "print_event_log", "save_record"]
