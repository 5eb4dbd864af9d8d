"""Built-in steps, as `sg.steps.Map` etc. (also reachable by their storey names)."""

from .core.builtins import (
    Batch,
    Choice,
    ChoiceByField,
    Collector,
    Extend,
    Filter,
    FlatMap,
    Map,
    Merge,
)

__all__ = [
    "Batch",
    "Choice",
    "ChoiceByField",
    "Collector",
    "Extend",
    "Filter",
    "FlatMap",
    "Map",
    "Merge",
]
