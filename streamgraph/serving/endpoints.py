"""Model endpoints: one record per served model, with its labels and live counters.

MLRun keeps model endpoints in its monitoring database; here a graph keeps them in memory, so
`/metrics` and tests can read requests, errors and latency per endpoint. The creation strategy
says what happens when an endpoint of the same name is registered again (a redeploy, a step
re-initialized) — the same names as MLRun, with in-memory meanings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import GraphError


class ModelEndpointCreationStrategy(StrEnum):
    """What registering an endpoint name that is already registered does."""

    INPLACE = "inplace"  # update the existing entry, keep its counters
    OVERWRITE = "overwrite"  # replace the existing entry, counters start from zero
    ARCHIVE = "archive"  # keep the old entry in `archived`, start a new one
    INSPECT = "inspect"  # create when missing, never change an existing one
    SKIP = "skip"  # do not record the endpoint at all

    @classmethod
    def of(cls, value: Any) -> ModelEndpointCreationStrategy:
        if value is None:
            return cls.INPLACE
        try:
            return cls(getattr(value, "value", value))
        except ValueError:
            raise ValueError(
                f"Invalid model endpoint creation strategy {value!r}; "
                f"use one of {[s.value for s in cls]}"
            ) from None


@dataclass
class EndpointStats:
    requests: int = 0
    errors: int = 0
    latency_sum: float = 0.0  # seconds
    latency_count: int = 0

    @property
    def mean_latency(self) -> float | None:
        return self.latency_sum / self.latency_count if self.latency_count else None


@dataclass
class ModelEndpoint:
    name: str
    step: str | None
    model_class: str
    execution_mechanism: str
    labels: list[str] | dict[str, str] | None = None
    strategy: ModelEndpointCreationStrategy = ModelEndpointCreationStrategy.INPLACE
    shared_model: str | None = None
    input_path: str | None = None
    result_path: str | None = None
    stats: EndpointStats = field(default_factory=EndpointStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "model_class": self.model_class,
            "execution_mechanism": self.execution_mechanism,
            "labels": self.labels,
            "strategy": self.strategy.value,
            "shared_model": self.shared_model,
            "input_path": self.input_path,
            "result_path": self.result_path,
            "requests": self.stats.requests,
            "errors": self.stats.errors,
            "latency_sum": self.stats.latency_sum,
            "latency_count": self.stats.latency_count,
        }


class EndpointRegistry:
    """The endpoints of one graph; counters are updated by the steps that serve them."""

    def __init__(self) -> None:
        self._endpoints: dict[str, ModelEndpoint] = {}
        self.archived: list[ModelEndpoint] = []
        self._lock = threading.Lock()  # counters may be updated from pool threads

    def register(self, endpoint: ModelEndpoint) -> ModelEndpoint | None:
        """Record `endpoint` per its strategy; the entry in use, or None when skipped.

        An endpoint name is one model in the whole graph: a second step registering the same
        name is refused, as MLRun refuses duplicate endpoint names in a graph.
        """
        strategy = endpoint.strategy
        if strategy is ModelEndpointCreationStrategy.SKIP:
            return None
        with self._lock:
            current = self._endpoints.get(endpoint.name)
            if current is not None and current.step != endpoint.step:
                raise GraphError(
                    f"The graph already contains the model endpoints named - {[endpoint.name]}."
                )
            if current is None:
                self._endpoints[endpoint.name] = endpoint
                return endpoint
            if strategy is ModelEndpointCreationStrategy.INSPECT:
                return current
            if strategy is ModelEndpointCreationStrategy.INPLACE:
                endpoint.stats = current.stats
            elif strategy is ModelEndpointCreationStrategy.ARCHIVE:
                self.archived.append(current)
            self._endpoints[endpoint.name] = endpoint
            return endpoint

    def record(self, name: str, latency: float, error: bool) -> None:
        with self._lock:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                return  # a skipped endpoint is not counted
            stats = endpoint.stats
            stats.requests += 1
            stats.errors += int(error)
            stats.latency_sum += latency
            stats.latency_count += 1

    def get(self, name: str) -> ModelEndpoint | None:
        return self._endpoints.get(name)

    def endpoints(self) -> list[ModelEndpoint]:
        return list(self._endpoints.values())

    def __contains__(self, name: object) -> bool:
        return name in self._endpoints

    def to_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: ep.to_dict() for name, ep in self._endpoints.items()}


__all__ = [
    "EndpointRegistry",
    "EndpointStats",
    "ModelEndpoint",
    "ModelEndpointCreationStrategy",
]
