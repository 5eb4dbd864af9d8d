"""Python's cyclic garbage collector, tuned for streamgraph's long-running processes.

A worker allocates a few dozen container objects per record (Faust's message and event, our
event, headers, the producer's batch entries). With Python's default threshold (a collection of
the youngest generation every 700 allocations net) the collector runs every few records and
walks the young objects each time: about a fifth of a worker's CPU per event on the 3-step
flow (bench/kafka_pipeline.py). Records are not cyclic garbage, they are freed by reference
counting, so collecting less often costs little memory. `gc.freeze()` also moves everything
built at start-up (the graph, models, Faust's services) out of the collector's sight for good.
"""

from __future__ import annotations

import gc

from .settings import Settings

__all__ = ["tune_gc"]


def tune_gc(settings: Settings | None = None) -> None:
    """Freeze what exists now and set the youngest generation's threshold from the settings
    (`gc_gen0_threshold`; 0 leaves Python's defaults). Call once start-up work is built."""
    threshold = (settings or Settings()).gc_gen0_threshold
    if threshold <= 0:
        return
    gc.collect()  # what start-up left as garbage goes now, not into the frozen set
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
