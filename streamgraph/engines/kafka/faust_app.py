"""The Faust app of a compiled function: its class, its options, its data folder.

With `lean_transport` (the default) the app is a `LeanApp` whose agents take their queued
records in batches (transport.py, batches.py); with `lean_transport=false` it is Faust's stock
`faust.App`, `faust.Stream` and `faust.Schema`, and every agent iterates event by event.

Faust's data folder is `<state folder>/faust/<app id>` (`faust_datadir`), never the current
folder: a worker leaves nothing where it was started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from ...connection.kafka_security import kafka_security
from ...settings import Settings
from .batches import LeanStream
from .record_driver import MAX_BATCH
from .transport import LeanApp, LeanSchema

__all__ = ["faust_datadir", "leader_topic", "new_faust_app", "step_schema"]

# how much one fetch brings per partition: ~600 small events, more than an agent batch; Faust's
# 1 MiB default held ~40 MB more under a burst for no more throughput (bench/kafka_pipeline.py)
FETCH_BYTES_PER_PARTITION = 64 * 1024


def new_faust_app(
    app_id: str, settings: Settings, lean: bool, app_options: dict[str, Any]
) -> faust.App:
    """The app `app_id` on the settings' brokers; `app_options` override Faust's options."""
    lean_options: dict[str, Any] = {"Stream": LeanStream} if lean else {}
    app_class = LeanApp if lean else faust.App
    if "datadir" not in app_options:  # (the test harness passes a temporary one)
        app_options["datadir"] = faust_datadir(settings, app_id)
    security = kafka_security(settings)
    app = app_class(
        app_id,
        broker=[f"kafka://{b.strip()}" for b in settings.brokers.split(",") if b.strip()],
        # Faust's aiokafka driver gives them to its consumer and producer (whose client also
        # creates the topics); None (PLAINTEXT) is Faust's own default
        broker_credentials=security.faust_credentials(),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        producer_linger=settings.producer_linger_ms / 1000.0,
        producer_acks=-1,
        # room for a whole agent batch per partition: a full 16 KiB batch (aiokafka's
        # default) makes the next send wait until the broker took the previous one
        producer_max_batch_size=512 * 1024,
        web_enabled=bool(app_options.pop("web_enabled", False)),
        **lean_options,
        # a crashed worker's partitions move to the others after 10 s, not Faust's 60 s;
        # an agent's queue holds a few batches, not Faust's 4096 events, and a fetch brings
        # 64 KiB a partition, not 1 MiB (memory under load)
        **{
            "broker_session_timeout": 10.0,
            "broker_heartbeat_interval": 1.0,
            # offsets committed every second, not Faust's 2.8 s: a crash replays less
            "broker_commit_interval": settings.commit_interval_seconds,
            "stream_buffer_maxsize": 4 * MAX_BATCH,
            "consumer_max_fetch_size": FETCH_BYTES_PER_PARTITION,
            **app_options,
        },
    )
    if isinstance(app, LeanApp):  # for the one line of a refused login, certificate or ACL
        app.brokers_text, app.security = settings.brokers, security
    return app


def leader_topic(app_id: str) -> str:
    """The topic Faust's LeaderAssignor creates and every worker of the app subscribes to (one
    partition: its owner is the app's leader), named after the app id."""
    return f"{app_id}-__assignor-__leader"


def step_schema(lean: bool) -> faust.Schema:
    """The schema of a step's topic: raw keys and values (the codec is wire/codec.py's)."""
    return (LeanSchema if lean else faust.Schema)(key_type=bytes, value_type=bytes)


def faust_datadir(settings: Settings, app_id: str) -> Path:
    """Faust's data folder for the app `app_id`: `<state folder>/faust/<app id>`.

    Faust's default, `<app id>-data` in the current folder, left a folder wherever a worker
    ran. Faust creates the app's own folder when the app first starts, but not its parents.
    """
    parent = settings.state_folder() / "faust"
    parent.mkdir(parents=True, exist_ok=True)
    return parent / app_id
