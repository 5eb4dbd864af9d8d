"""Shared models: one model instance per graph, reached by proxies in many `ModelRunnerStep`s.

The graph declares shared models (`graph.add_shared_model(...)` -> `registry.add(...)`); the
engine calls `load_all()` once before initializing steps, so each shared model loads ONCE
however many proxies use it, and `close()` after the steps are closed. A proxy calls the shared
model with its own endpoint name and artifact, so a shared `LLModel` applies each proxy's
prompt template.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import GraphError
from .artifacts import (
    Artifact,
    ArtifactError,
    LLMPromptArtifact,
    ModelArtifact,
    artifact_reference,
)
from .mechanisms import (
    SHARED_EXECUTOR,
    ExecutorPools,
    Runnable,
    make_runnable,
    validate_mechanism,
)
from .model import Model, ModelSpec


def _model_of(artifact: Artifact | None) -> ModelArtifact | None:
    return artifact.model_artifact if isinstance(artifact, LLMPromptArtifact) else artifact


def same_model(a: ModelArtifact, b: ModelArtifact) -> bool:
    """Two references to one model: the same saved file, else the same key."""
    if a.uri and b.uri:
        return os.path.abspath(a.uri) == os.path.abspath(b.uri)
    return a.key == b.key


class SharedModelRegistry:
    """Declared shared models, then (after `load_all()`) their loaded runnables."""

    def __init__(self, pools: ExecutorPools | None = None) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._runnables: dict[str, Runnable] = {}
        self.pools = pools
        self._lock = threading.Lock()
        # set by an engine that serves some models elsewhere (Kafka: model worker processes):
        # spec -> the runnable reaching it, or None to load the model here
        self.remote: Callable[[ModelSpec], Runnable | None] | None = None

    @classmethod
    def from_specs(cls, specs: dict[str, dict[str, Any]]) -> SharedModelRegistry:
        """From the graph's `shared_models` mapping: name -> keyword arguments of `add()`."""
        registry = cls()
        for name, spec in specs.items():
            registry.add(name, **spec)
        return registry

    def configure_shared_pool_resource(
        self, max_processes: int | None = None, max_threads: int | None = None
    ) -> None:
        """Give the shared models their own pools instead of the process-wide ones."""
        self.pools = ExecutorPools(max_threads=max_threads, max_processes=max_processes)

    def add(
        self,
        name: str,
        model_class: Any = None,
        execution_mechanism: str = "naive",
        model_artifact: Any = None,
        input_path: str | None = None,
        result_path: str | None = None,
        override: bool = False,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        **model_params: Any,
    ) -> None:
        if getattr(execution_mechanism, "value", execution_mechanism) == SHARED_EXECUTOR:
            raise GraphError("Cannot add a shared model with execution mechanism 'shared_executor'")
        mechanism = validate_mechanism(execution_mechanism)
        if name in self._specs and not override:
            raise GraphError(f"Model with name {name} already exists in this graph.")
        if isinstance(model_class, Model):
            if model_class.name not in (None, name):
                raise GraphError("Inconsistent name for the added model.")
            if model_params:
                raise GraphError(
                    "Cannot provide a model object as argument to `model_class` and also "
                    "provide `model_parameters`."
                )
        try:
            artifact = artifact_reference(model_artifact) if model_artifact is not None else None
        except ArtifactError as exc:
            raise GraphError(f"Shared model '{name}': {exc}") from exc
        if model_class is None:
            if not isinstance(artifact, LLMPromptArtifact | ModelArtifact):
                raise GraphError(f"Shared model '{name}': model_class must be given")
            model_class = "LLModel"  # a model artifact alone is an LLM (MLRun's default class)
        with self._lock:
            old = self._runnables.pop(name, None)
            self._specs[name] = ModelSpec(
                name=name,
                model_class=model_class,
                execution_mechanism=mechanism,
                model_artifact=artifact,
                input_path=input_path,
                result_path=result_path,
                params=dict(model_params),
                inputs=inputs,
                outputs=outputs,
            )
        if old is not None:
            old.close()  # overridden after loading: the new spec loads on the next load_all()

    # -- queries -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise GraphError(f"Can't find shared model named {name}") from None

    def find_by_artifact(self, artifact: Any) -> str | None:
        """The shared model serving `artifact` (for a prompt: the prompt's model)."""
        target = _model_of(artifact_reference(artifact))
        if target is None:
            return None
        for name, spec in self._specs.items():
            own = _model_of(spec.model_artifact)
            if own is not None and same_model(own, target):
                return name
        return None

    def get(self, name: str) -> Runnable:
        """The loaded runnable of shared model `name`."""
        runnable = self._runnables.get(name)
        if runnable is None:
            self.spec(name)  # unknown name: GraphError
            raise RuntimeError(f"Shared model '{name}' is not loaded: call load_all() first")
        return runnable

    @property
    def loaded(self) -> bool:
        return all(name in self._runnables for name in self._specs)

    # -- lifecycle -----------------------------------------------------------------------------
    def load_all(self, namespace: dict[str, Any] | None = None) -> None:
        """Build and load every shared model not loaded yet; each loads exactly once."""
        with self._lock:
            todo = {n: s for n, s in self._specs.items() if n not in self._runnables}
            started: dict[str, Runnable] = {}
            try:
                for name, spec in todo.items():
                    remote = self.remote(spec) if self.remote is not None else None
                    runnable: Runnable = remote or make_runnable(
                        spec.build(namespace), spec.execution_mechanism, self.pools
                    )
                    runnable.start()  # start every process first, then wait for all
                    started[name] = runnable
                for runnable in started.values():
                    runnable.wait_ready()
            except BaseException:
                for runnable in started.values():
                    runnable.close()
                raise
            self._runnables.update(started)

    def close(self) -> None:
        with self._lock:
            runnables, self._runnables = self._runnables, {}
        for runnable in runnables.values():
            runnable.close()
        if self.pools is not None:
            self.pools.shutdown()

    async def aclose(self) -> None:
        """As `close()`, also closing async clients (LLM sessions) in the running loop."""
        with self._lock:
            runnables, self._runnables = self._runnables, {}
        for runnable in runnables.values():
            await runnable.aclose()
        if self.pools is not None:
            self.pools.shutdown()

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: spec.to_dict() for name, spec in self._specs.items()}

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> SharedModelRegistry:
        registry = cls()
        for name, item in data.items():
            registry._specs[name] = ModelSpec.from_dict(name, item)
        return registry


__all__ = ["SharedModelRegistry", "same_model"]
