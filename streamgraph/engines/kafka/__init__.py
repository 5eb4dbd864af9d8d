"""The Kafka engine: every step a Faust agent consuming one topic and producing to the next.

Start with `app.py` (compiling a function into a Faust app and wiring its parts), then
`record_driver.py` (a step agent's records: decode, run, send, ack; a Batch step's agent is
`batch_driver.py`), `executor.py` (what one step does to one event, as records), `wire/codec.py`
(the event on the wire), `topology.py` (topic names) and `harness.py` (running the agents in
process for tests). Merge and Collector state is in `state/`; exactly_once in `exactly_once.py`
and `transactions.py`. The hot path's Faust parts: `faust_app.py` (the app's options),
`transport.py` (records handed to the agents' queues), `batches.py` (an agent takes its queue in
batches), `outbox.py` and `sender.py` (records to the producer).
"""

from .app import KafkaGraph, build_app
from .coordinator_log import quiet_coordinator_wait
from .lazy import lazy_app
from .remote_model import dedicated_models

# every process that runs agents imports this package: a fresh broker's coordinator election is
# logged once at INFO there, not as an ERROR per retry
quiet_coordinator_wait()

__all__ = ["KafkaGraph", "build_app", "dedicated_models", "lazy_app"]
