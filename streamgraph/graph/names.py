"""Reserved names and markers shared by the declaration layer and the engines."""

from __future__ import annotations

import re

PREVIOUS_STEP = "$prev"
QUEUE_CLASS_NAMES = (">>", "$queue")
ROUTER_PREFIX = "*"
COMPLETE = "Complete"
DEFAULT_MAX_ITERATIONS = 100

# Step names become Kafka topic names (`<prefix>.<function>.<step>`): keep to Kafka's characters.
_TOPIC_SAFE = re.compile(r"[^a-zA-Z0-9._-]")


def topic_safe(name: str) -> str:
    """A form of `name` that is a legal Kafka topic name segment."""
    return _TOPIC_SAFE.sub("_", name)


def default_step_name(class_name: object, handler: object) -> str | None:
    """The name MLRun gives a step that was not named: the class (or handler) name."""
    if isinstance(class_name, str) and class_name:
        if class_name in QUEUE_CLASS_NAMES:
            return None
        return class_name.lstrip(ROUTER_PREFIX).split(".")[-1] or "router"
    if isinstance(class_name, type):
        return class_name.__name__
    if class_name is not None:
        name = getattr(class_name, "name", None)
        return name if isinstance(name, str) and name else type(class_name).__name__
    if isinstance(handler, str) and handler and not handler.startswith("("):
        return handler.split(".")[-1]
    if callable(handler):
        return getattr(handler, "__name__", None)
    return None
