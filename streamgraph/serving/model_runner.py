"""`ModelRunnerStep`: a graph step that runs several models on each event, concurrently.

Declare models with `add_model()` (each with its execution mechanism) and proxies of shared
models with `add_shared_model_proxy()`. The engine sets `step.context`, calls `post_init()`
once, then `await step.do(body)` per event and `step.select_outlets(result)` after it.

Output: with one model, its result; with several, `{endpoint_name: result}` for the models the
selector chose. A failing model gives `{"error": "<Class>: <message>"}` in its place when
`raise_exception=False`; otherwise the event fails with `ModelRunnerError`, naming every
failing model. A single streaming model makes `do()` return an async iterator of chunks.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ..errors import GraphError, describe, status_of
from .artifacts import (
    Artifact,
    ArtifactError,
    LLMPromptArtifact,
    artifact_reference,
    load_artifact,
)
from .endpoints import EndpointRegistry, ModelEndpoint, ModelEndpointCreationStrategy
from .llm import USAGE_FIELDS
from .mechanisms import (
    SHARED_EXECUTOR,
    ExecutorPools,
    Runnable,
    SharedExecutorRunnable,
    make_runnable,
    validate_mechanism,
)
from .model import (
    Model,
    ModelRunnerError,
    ModelSelector,
    ModelSpec,
    class_path,
    resolve_model_class,
)
from .shared import SharedModelRegistry

logger = logging.getLogger("streamgraph.serving")

_BOTH_SELECTORS = (
    "Cannot provide both `model_selector`/`model_selector_parameters` and "
    "`model_runner_selector`/`model_runner_selector_parameters`. Please use only the latter pair."
)


def _is_llmodel(model_class: Any) -> bool:
    if isinstance(model_class, str):
        return model_class.rsplit(".", 1)[-1] == "LLModel"
    cls = model_class if isinstance(model_class, type) else type(model_class)
    return any(c.__name__ == "LLModel" for c in cls.__mro__)


class ModelRunnerStep:
    """Runs the models added to it on each event (MLRun's `ModelRunnerStep`)."""

    kind = "model_runner"

    def __init__(
        self,
        name: str | None = None,
        model_selector: Any = None,
        model_runner_selector: Any = None,
        raise_exception: bool = True,
        context: Any = None,
        model_selector_parameters: dict[str, Any] | None = None,
        model_runner_selector_parameters: dict[str, Any] | None = None,
        models: dict[str, Any] | None = None,
        pool_resource: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        old = model_selector is not None or bool(model_selector_parameters)
        new = model_runner_selector is not None or bool(model_runner_selector_parameters)
        if old and new:
            raise GraphError(_BOTH_SELECTORS)
        selector = model_runner_selector if new else model_selector
        params = (model_runner_selector_parameters if new else model_selector_parameters) or {}
        if params and selector is not None and not isinstance(selector, str | type):
            raise GraphError(
                "Cannot provide a model_selector object as argument to `model_selector` and "
                "also provide `model_selector_parameters`."
            )
        self.name = name or "ModelRunnerStep"
        self.model_selector = selector
        self.model_selector_parameters = dict(params)
        self.raise_exception = raise_exception
        self.context = context
        # to_dict()'s own keys come back when a graph step builds the step from its class args
        kw.pop("kind", None)
        kw.pop("class_name", None)
        self.step_args = kw  # other step arguments, kept for the engine and to_dict()
        self._specs: dict[str, ModelSpec] = {
            key: spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(key, spec)
            for key, spec in (models or {}).items()
        }
        self._runnables: dict[str, Runnable] = {}
        self._selector: Any = None
        self._pools: ExecutorPools | None = None
        self.endpoints: EndpointRegistry | None = None
        self._initialized = False
        if pool_resource:
            self.configure_pool_resource(**pool_resource)

    # -- declaration ---------------------------------------------------------------------------
    def configure_pool_resource(
        self,
        max_processes: int | None = None,
        max_threads: int | None = None,
        start_method: str | None = None,
    ) -> None:
        """Give this step's models their own pools instead of the process-wide shared ones."""
        self._pools = ExecutorPools(max_threads, max_processes, start_method)

    def add_model(
        self,
        endpoint_name: str,
        model_class: Any = None,
        execution_mechanism: str = "naive",
        model_artifact: Any = None,
        input_path: str | None = None,
        result_path: str | None = None,
        labels: list[str] | dict[str, str] | None = None,
        model_endpoint_creation_strategy: Any = ModelEndpointCreationStrategy.INPLACE,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        override: bool = False,
        **model_params: Any,
    ) -> None:
        """Add a model; `model_class` is a Model class, instance or name (`LLModel` for a
        prompt artifact when omitted)."""
        mechanism = validate_mechanism(execution_mechanism)
        self._check_new(endpoint_name, override)
        artifact = self._artifact(model_artifact)
        if model_class is None:
            if not isinstance(artifact, LLMPromptArtifact):
                raise GraphError(
                    f"Model '{endpoint_name}': model_class is required unless model_artifact "
                    "is an LLMPromptArtifact"
                )
            model_class = "LLModel"
        if isinstance(model_class, Model):
            if model_params:
                raise GraphError(
                    "Cannot provide a model object as argument to `model_class` and also "
                    "provide `model_parameters`."
                )
            if model_class.name not in (None, endpoint_name):
                raise GraphError("Inconsistent name for model added to ModelRunnerStep.")
            model_class.name = endpoint_name
        if model_params.get("name", endpoint_name) != endpoint_name:
            raise GraphError("Inconsistent name for model added to ModelRunnerStep.")
        model_params.pop("name", None)
        if _is_llmodel(model_class):
            if outputs and outputs != USAGE_FIELDS:
                logger.warning("LLModel with existing outputs detected, overriding to default")
            outputs = list(USAGE_FIELDS)
        self._specs[endpoint_name] = ModelSpec(
            name=endpoint_name,
            model_class=model_class,
            execution_mechanism=mechanism,
            model_artifact=artifact,
            input_path=input_path,
            result_path=result_path,
            params=model_params,
            labels=labels,
            creation_strategy=ModelEndpointCreationStrategy.of(
                model_endpoint_creation_strategy
            ).value,
            inputs=inputs,
            outputs=outputs,
        )

    def add_shared_model_proxy(
        self,
        endpoint_name: str,
        model_artifact: Any = None,
        shared_model_name: str | None = None,
        labels: list[str] | dict[str, str] | None = None,
        model_endpoint_creation_strategy: Any = ModelEndpointCreationStrategy.INPLACE,
        input_path: str | None = None,
        result_path: str | None = None,
        override: bool = False,
    ) -> None:
        """Add an endpoint served by the graph's shared model `shared_model_name` (or the one
        whose artifact matches `model_artifact`), called with this proxy's artifact; a plain
        key (`"my-prompt"`) is kept as a reference, an unsaved `ModelArtifact(key)`."""
        self._check_new(endpoint_name, override)
        if model_artifact is None and not shared_model_name:
            raise GraphError(
                f"Proxy '{endpoint_name}': give shared_model_name or a model_artifact that "
                "matches a shared model"
            )
        self._specs[endpoint_name] = ModelSpec(
            name=endpoint_name,
            model_class=None,
            execution_mechanism=SHARED_EXECUTOR,
            # a plain key is a reference (MLRun's lazily resolved URI); the proxy reaches its
            # shared model by shared_model_name, or by that key
            model_artifact=self._artifact(model_artifact, key_allowed=True),
            input_path=input_path,
            result_path=result_path,
            labels=labels,
            creation_strategy=ModelEndpointCreationStrategy.of(
                model_endpoint_creation_strategy
            ).value,
            shared_model_name=shared_model_name,
        )

    def _check_new(self, endpoint_name: str, override: bool) -> None:
        if endpoint_name in self._specs and not override:
            raise GraphError(
                f"Model with name {endpoint_name} already exists in this ModelRunnerStep."
            )
        if self._initialized:
            raise GraphError(f"ModelRunnerStep '{self.name}': models cannot be added after start")

    @staticmethod
    def _artifact(ref: Any, key_allowed: bool = False) -> Artifact | None:
        if ref is None:
            return None
        try:
            return artifact_reference(ref) if key_allowed else load_artifact(ref)
        except ArtifactError as exc:
            raise GraphError(str(exc)) from exc

    # -- queries used by graph validation ------------------------------------------------------
    @property
    def models(self) -> list[str]:
        """Endpoint names, in the order they were added."""
        return list(self._specs)

    def endpoint_names(self) -> list[str]:
        return list(self._specs)

    def proxies(self) -> dict[str, str | None]:
        """Proxy endpoint -> the shared model it names (None: matched by artifact)."""
        return {
            n: s.shared_model_name
            for n, s in self._specs.items()
            if s.execution_mechanism == SHARED_EXECUTOR
        }

    def check_proxies(self, registry: Iterable[str] | SharedModelRegistry) -> None:
        """Refuse proxies of shared models the graph does not define (call at build time)."""
        full = registry if isinstance(registry, SharedModelRegistry) else None
        names = set(full.names() if full is not None else registry)
        missing: list[str] = []
        for endpoint, spec in self._specs.items():
            if spec.execution_mechanism != SHARED_EXECUTOR:
                continue
            found = (
                full.find_by_artifact(spec.model_artifact) if full and spec.model_artifact else None
            )
            wanted = spec.shared_model_name
            if wanted is None:
                if full is None:
                    continue  # matched by artifact: needs the registry itself
                if found is None:
                    key = getattr(spec.model_artifact, "key", None)
                    raise GraphError(
                        "ModelRunnerStep can only add proxy models that were added to the root "
                        f"flow step, model {key} is not in the shared models."
                    )
            elif wanted not in names:
                missing.append(wanted)
            elif found is not None and found != wanted:
                raise GraphError(
                    f"Model endpoint {endpoint} shared runnable name mismatch: "
                    f"expected {found}, got {wanted}"
                )
        if missing:
            ordered = list(dict.fromkeys(missing))
            raise GraphError(
                f"The following shared models are not defined in the graph: {ordered}."
            )

    # -- start ---------------------------------------------------------------------------------
    def post_init(self, namespace: dict[str, Any] | None = None) -> None:
        """Build the selector and models, load them (processes start here), register endpoints."""
        if self._initialized:
            return
        ctx = self.context
        namespace = namespace if namespace is not None else getattr(ctx, "namespace", None) or {}
        self._selector = self._build_selector(namespace)
        registry: SharedModelRegistry | None = getattr(ctx, "shared_models", None)
        if self.proxies():
            self.check_proxies(registry if registry is not None else [])
            assert registry is not None
            for spec in self._specs.values():
                if spec.execution_mechanism == SHARED_EXECUTOR and not spec.shared_model_name:
                    spec.shared_model_name = registry.find_by_artifact(spec.model_artifact)
        # endpoint names are checked before any process starts
        self._register_endpoints(ctx, registry)
        if registry is not None and self.proxies():
            registry.load_all(namespace)  # idempotent: each shared model loads once per graph
        server_streaming = bool(getattr(ctx, "streaming", False))
        runnables: dict[str, Runnable] = {}
        try:
            for name, spec in self._specs.items():
                if spec.execution_mechanism == SHARED_EXECUTOR:
                    assert registry is not None and spec.shared_model_name is not None
                    runnables[name] = SharedExecutorRunnable(
                        name, registry, spec.shared_model_name, spec.model_artifact
                    )
                    continue
                model = spec.build(namespace)
                if getattr(model, "streaming", False) is None:
                    setattr(model, "streaming", server_streaming)  # LLModel follows the server
                runnable: Runnable = make_runnable(model, spec.execution_mechanism, self._pools)
                runnables[name] = runnable
                runnable.start()  # start all (processes in parallel), then wait for all
            for runnable in runnables.values():
                runnable.wait_ready()
        except BaseException:
            for runnable in runnables.values():
                if not isinstance(runnable, SharedExecutorRunnable):
                    runnable.close()
            raise
        self._runnables = runnables
        self._initialized = True

    def _build_selector(self, namespace: dict[str, Any]) -> Any:
        ref = self.model_selector
        if ref is None:
            return None
        found = resolve_model_class(ref, namespace, self.name) if isinstance(ref, str) else ref
        if isinstance(found, type):
            return found(**self.model_selector_parameters)
        return found

    def _register_endpoints(self, ctx: Any, registry: SharedModelRegistry | None) -> None:
        endpoints = getattr(ctx, "endpoints", None)
        self.endpoints = (
            endpoints if isinstance(endpoints, EndpointRegistry) else EndpointRegistry()
        )
        for name, spec in self._specs.items():
            label = spec.class_label
            if spec.shared_model_name and registry is not None:
                label = registry.spec(spec.shared_model_name).class_label
            self.endpoints.register(
                ModelEndpoint(
                    name=name,
                    step=self.name,
                    model_class=label,
                    execution_mechanism=spec.execution_mechanism,
                    labels=spec.labels,
                    strategy=ModelEndpointCreationStrategy.of(spec.creation_strategy),
                    shared_model=spec.shared_model_name,
                    input_path=spec.input_path,
                    result_path=spec.result_path,
                )
            )

    # -- per event -----------------------------------------------------------------------------
    async def do(self, body: Any) -> Any:
        if not self._initialized:
            raise RuntimeError(f"ModelRunnerStep '{self.name}' is not started: call post_init()")
        try:
            names = await self._select(body)
        except Exception as exc:
            if self.raise_exception:
                raise
            return {"error": describe(exc)}
        single = len(self._runnables) == 1
        # each model gets its own copy when several run: models may write into their body
        bodies = [body] if len(names) <= 1 else [copy.deepcopy(body) for _ in names]
        outcomes = await asyncio.gather(
            *(self._run_one(n, b, stream=single) for n, b in zip(names, bodies, strict=True))
        )
        failed = {n: exc for n, (ok, exc) in zip(names, outcomes, strict=True) if not ok}
        if failed and self.raise_exception:
            error = ModelRunnerError({n: describe(e) for n, e in failed.items()}, self.name)
            statuses = {status_of(e) for e in failed.values()}
            if len(statuses) == 1:
                error.status_code = statuses.pop()
            raise error from next(iter(failed.values()))
        results = {
            n: (value if ok else {"error": describe(value)})
            for n, (ok, value) in zip(names, outcomes, strict=True)
        }
        if single:
            return next(iter(results.values()), {})
        return results

    async def _select(self, body: Any) -> list[str]:
        available = list(self._runnables)
        selector = self._selector
        if selector is None:
            return available
        select = getattr(selector, "select_models", None)
        legacy = getattr(selector, "select", None)
        if legacy is not None and getattr(type(selector), "select_models", None) in (
            None,
            ModelSelector.select_models,
        ):
            select = legacy  # an MLRun-style ModelSelector overriding select()
        if select is None:
            return available
        chosen = select(body, available)
        if inspect.isawaitable(chosen):
            chosen = await chosen
        if chosen is None:
            return available
        names = list(dict.fromkeys(getattr(c, "name", c) for c in chosen))
        unknown = [n for n in names if n not in self._runnables]
        if unknown:
            raise ValueError(
                f"Model selector of '{self.name}' chose unknown model(s) {unknown}; "
                f"available: {available}"
            )
        return names

    async def _run_one(self, name: str, body: Any, stream: bool) -> tuple[bool, Any]:
        started = time.perf_counter()
        try:
            result = await self._runnables[name].run(body)
            if isinstance(result, AsyncIterator):
                if stream:
                    return True, self._timed_stream(name, started, result)
                result = [chunk async for chunk in result]  # several models: collect chunks
        except Exception as exc:
            self._record(name, started, error=True)
            return False, exc
        self._record(name, started, error=False)
        return True, result

    async def _timed_stream(
        self, name: str, started: float, chunks: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        error = True
        try:
            async for chunk in chunks:
                yield chunk
            error = False
        finally:
            self._record(name, started, error)

    def _record(self, name: str, started: float, error: bool) -> None:
        if self.endpoints is not None:
            self.endpoints.record(name, time.perf_counter() - started, error)

    def select_outlets(self, body: Any) -> list[str] | None:
        """The selector's choice of next steps (None: all outlets)."""
        select = getattr(self._selector, "select_outlets", None)
        return select(body) if select is not None else None

    # -- stop ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop this step's models (shared models belong to the registry)."""
        runnables, self._runnables = self._runnables, {}
        for runnable in runnables.values():
            if not isinstance(runnable, SharedExecutorRunnable):
                runnable.close()
        if self._pools is not None:
            self._pools.shutdown()
        self._initialized = False

    async def aclose(self) -> None:
        """As `close()`, also closing async clients (LLM sessions) in the running loop."""
        runnables, self._runnables = self._runnables, {}
        for runnable in runnables.values():
            if not isinstance(runnable, SharedExecutorRunnable):
                await runnable.aclose()
        if self._pools is not None:
            self._pools.shutdown()
        self._initialized = False

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        selector, params = self.model_selector, dict(self.model_selector_parameters)
        if selector is not None and not isinstance(selector, str | type):
            to_dict = getattr(selector, "to_dict", None)
            params = {k: v for k, v in (to_dict() if to_dict else {}).items() if k != "class_name"}
            selector = type(selector)
        data: dict[str, Any] = {
            "kind": self.kind,
            "class_name": class_path(type(self)),
            "name": self.name,
            "raise_exception": self.raise_exception,
            "models": {name: spec.to_dict() for name, spec in self._specs.items()},
        }
        if selector is not None:
            data["model_runner_selector"] = (
                selector if isinstance(selector, str) else class_path(selector)
            )
            if params:
                data["model_runner_selector_parameters"] = params
        if self._pools is not None:
            data["pool_resource"] = {
                "max_processes": self._pools.max_processes,
                "max_threads": self._pools.max_threads,
                "start_method": self._pools.start_method,
            }
        if self.step_args:
            data["step_args"] = dict(self.step_args)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], context: Any = None) -> ModelRunnerStep:
        step = cls(
            name=data.get("name"),
            model_runner_selector=data.get("model_runner_selector"),
            model_runner_selector_parameters=data.get("model_runner_selector_parameters"),
            raise_exception=data.get("raise_exception", True),
            context=context,
            models=data.get("models"),
            pool_resource=data.get("pool_resource"),
            **data.get("step_args", {}),
        )
        return step


__all__ = ["ModelRunnerError", "ModelRunnerStep"]
