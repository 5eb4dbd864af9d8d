"""The deployments running now (`streamgraph run`, `fn.deploy()`), recorded so that other
commands find their processes: `streamgraph top TOPOLOGY` reads the workers' metrics from here.

One JSON file per deployment in `<state folder>/runs/run-<pid>-<gateway port>.json`, the pid
being that of the process that started it (which may deploy more than one function); written
once every process is ready, removed when it stops. A record whose process is gone (killed
before it could remove it) is skipped and removed by the next read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .settings import Settings


@dataclass(frozen=True)
class RunRecord:
    """A running deployment: its function, the process that owns it, where its metrics are."""

    function: str  # the deployed function's name
    reference: str  # what its workers were started with (a module name or a reference)
    pid: int  # the process that started it (`streamgraph run`)
    folder: str  # the run folder (logs)
    gateway: str  # the gateway's URL
    workers: dict[str, str] = field(default_factory=dict)  # worker name -> its /metrics URL
    started_at: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return f"run-{self.pid}-{self.gateway.rsplit(':', 1)[-1]}"

    def running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process took the pid: not ours
            return False
        return True


def folder(settings: Settings | None = None) -> Path:
    return (settings or Settings()).state_folder() / "runs"


def save(record: RunRecord, records: Path | None = None) -> None:
    """Write it atomically (a reader never sees half of it)."""
    records = records or folder()
    records.mkdir(parents=True, exist_ok=True)
    partial = records / f"{record.key}.json.partial"
    partial.write_text(json.dumps(asdict(record), indent=2) + "\n")
    partial.replace(records / f"{record.key}.json")


def clear(record: RunRecord, records: Path | None = None) -> None:
    (records or folder()).joinpath(f"{record.key}.json").unlink(missing_ok=True)


def running(records: Path | None = None) -> list[RunRecord]:
    """The deployments whose owner still runs, newest first (stale records are removed)."""
    records = records or folder()
    found = []
    for path in records.glob("run-*.json") if records.is_dir() else ():
        try:
            record = RunRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # half written by another version, or removed meanwhile
        if record.running():
            found.append(record)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda r: -r.started_at)


__all__ = ["RunRecord", "clear", "folder", "running", "save"]
