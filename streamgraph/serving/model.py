"""Runnable models (MLRun's `Model`), model selectors, and the declaration of one model.

A `Model` subclass implements `load()` and `predict()` (or `predict_async()`); a
`ModelRunnerStep` runs it with an execution mechanism (see `mechanisms.py`). Where the model
runs, the runnable calls `init()`: the artifact is read, an LLM provider is made from its
`model_url`, then `load()` runs. `run()` / `run_async()` are what mechanisms call; they format
batches and hand the per-call artifact of a shared-model proxy to subclasses such as `LLModel`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError, StreamgraphError
from .artifacts import (
    Artifact,
    LLMPromptArtifact,
    ModelArtifact,
    artifact_ref,
    artifact_reference,
    load_artifact,
)
from .providers import ModelProvider, find_provider, get_provider


class ModelRunnerError(StreamgraphError, RuntimeError):
    """One or more models failed; `models_errors` maps each endpoint to `"<Class>: <message>"`.

    `status_code` is the failing models' own HTTP status when they agree, else 400.
    """

    status_code: int = 400

    def __init__(self, models_errors: dict[str, str], step: str | None = None) -> None:
        self.models_errors = dict(models_errors)
        where = f"ModelRunnerStep '{step}': " if step else ""
        detail = "; ".join(f"{name}: {error}" for name, error in self.models_errors.items())
        super().__init__(f"{where}{detail}")


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _set_params(obj: Any, params: dict[str, Any], owner: str) -> None:
    """Expose parameters as attributes, refusing names that would hide a method or attribute."""
    for key, value in params.items():
        current = inspect.getattr_static(type(obj), key, None)
        if key in obj.__dict__ or callable(current) or isinstance(current, property):
            raise TypeError(f"{owner}: parameter '{key}' would hide the attribute of that name")
        setattr(obj, key, value)


class Model:
    """A model served by a `ModelRunnerStep`.

    Parameters given as keywords are readable as attributes and with `get_param()`.
    `raise_exception` is kept for MLRun compatibility: whether a failing model fails the event
    is decided by the step's own `raise_exception`.
    """

    def __init__(
        self,
        name: str | None = None,
        raise_exception: bool = True,
        artifact_uri: str | Artifact | None = None,
        **model_params: Any,
    ) -> None:
        self.name = name
        self.raise_exception = raise_exception
        self.artifact_uri = artifact_uri
        self.model_params: dict[str, Any] = dict(model_params)
        self.model_artifact: ModelArtifact | None = None
        self.invocation_artifact: LLMPromptArtifact | None = None
        self.model_provider: ModelProvider | None = None
        self.execution_mechanism: str | None = None
        self.loaded = False
        _set_params(self, model_params, f"model '{name}'")

    def get_param(self, key: str, default: Any = None) -> Any:
        return self.model_params.get(key, default)

    # -- lifecycle -----------------------------------------------------------------------------
    def init(self) -> None:
        """Read the artifact, make the provider, then `load()`; runs where the model runs."""
        self._load_artifacts()
        self.load()
        self.loaded = True

    def load(self) -> None:
        """Override to load the model (read `self.get_local_model_path()`, open clients...)."""

    def close(self) -> None:
        """Override to release what `load()` took."""

    async def aclose(self) -> None:
        if self.model_provider is not None:
            await self.model_provider.aclose()
        self.close()

    def _load_artifacts(self) -> None:
        if self.artifact_uri is None:
            return
        # a plain key stays a reference (an unsaved ModelArtifact naming it), as in MLRun
        artifact = artifact_reference(self.artifact_uri)
        if isinstance(artifact, LLMPromptArtifact):
            self.invocation_artifact = artifact
            self.model_artifact = artifact.model_artifact
        else:
            self.model_artifact = artifact
        url = self.model_artifact.model_url
        if url and find_provider(url) is not None:
            self.model_provider = get_provider(url, **self.model_artifact.parameters)

    def get_local_model_path(self) -> str | None:
        """The model file of the artifact, as a local path (None without one)."""
        return self.model_artifact.local_model_path() if self.model_artifact else None

    # -- inference -----------------------------------------------------------------------------
    def predict(self, body: Any, **kwargs: Any) -> Any:
        """Override with the prediction; for asyncio code override `predict_async()` instead."""
        raise NotImplementedError("predict() method not implemented")

    def predict_async(self, body: Any, **kwargs: Any) -> Any:
        """Override with `async def` (or an async generator) for asyncio models.

        The default is an awaitable that runs `predict()`. It is declared as a plain method
        returning an awaitable so that both kinds of override type-check.
        """
        return self._predict_awaitable(body, **kwargs)

    async def _predict_awaitable(self, body: Any, **kwargs: Any) -> Any:
        return self.predict(body, **kwargs)

    def is_streaming(self) -> bool:
        """True when predictions are generators; override when `predict` returns one."""
        return inspect.isgeneratorfunction(self.predict) or inspect.isasyncgenfunction(
            self.predict_async
        )

    def format_batch(self, body: list[Any]) -> Any:
        """Override to turn a batch (a list body) into what `predict()` takes."""
        return body

    def run(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        """What sync mechanisms call. `origin_name`/`artifact` come from a shared-model proxy."""
        if isinstance(body, list):
            body = self.format_batch(body)
        return self.predict(body)

    async def run_async(
        self, body: Any, origin_name: str | None = None, artifact: Artifact | None = None
    ) -> Any:
        if isinstance(body, list):
            body = self.format_batch(body)
        result = self.predict_async(body)
        # an async generator function returns its generator, not a coroutine
        return await result if inspect.isawaitable(result) else result

    def check_implemented(self, mechanism: str) -> None:
        """Refuse a model lacking the predict method its mechanism calls (MLRun's text)."""
        cls = type(self)
        has_predict = cls.predict is not Model.predict
        if mechanism == "asyncio":
            ok, method = (
                has_predict or cls.predict_async is not Model.predict_async,
                "predict_async",
            )
        else:
            ok, method = has_predict, "predict"
        if not ok:
            raise ModelRunnerError(
                {
                    str(self.name): f"is running with {mechanism} execution_mechanism but "
                    f"{method}() is not implemented"
                }
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_name": class_path(type(self)),
            "name": self.name,
            "raise_exception": self.raise_exception,
            "artifact_uri": artifact_ref(self.artifact_uri)
            if isinstance(self.artifact_uri, ModelArtifact | LLMPromptArtifact)
            else self.artifact_uri,
            **self.model_params,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ModelSelector:
    """Chooses which models of a `ModelRunnerStep` run on an event, and where it goes next.

    Override `select_models(event, available_models)`: return endpoint names (or None for all).
    Define `select_outlets(body) -> list[str] | None` to route the step's result (agent loops).
    Constructor keywords are readable as attributes.
    """

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)
        _set_params(self, params, type(self).__name__)

    def select_models(self, event: Any, available_models: list[str]) -> list[str] | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"class_name": class_path(type(self)), **self.params}


ModelRunnerSelector = ModelSelector

_MODEL_ALIASES = {
    "Model": "streamgraph.serving.model.Model",
    "mlrun.serving.Model": "streamgraph.serving.model.Model",
    "mlrun.serving.states.Model": "streamgraph.serving.model.Model",
    "LLModel": "streamgraph.serving.llm.LLModel",
    "mlrun.serving.LLModel": "streamgraph.serving.llm.LLModel",
    "mlrun.serving.states.LLModel": "streamgraph.serving.llm.LLModel",
}


def resolve_model_class(ref: Any, namespace: dict[str, Any] | None, where: str) -> Any:
    """A Model class or instance for `ref`: a class, an instance, a name or a dotted path."""
    if not isinstance(ref, str):
        return ref
    from ..graph.resolve import resolve_object  # the graph layer owns name resolution

    namespace = namespace or {}
    path = ref if ref in namespace else _MODEL_ALIASES.get(ref, ref)
    return resolve_object(path, namespace, where, "model class")


def _explicit_params(cls: type) -> set[str]:
    params = inspect.signature(cls).parameters.values()
    return {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}


@dataclass
class ModelSpec:
    """One model as a graph declares it: pure data until `build()`.

    `input_path`/`result_path` are given to the model class when its constructor names them
    (`LLModel`); otherwise, as in MLRun, they only describe the model's inputs and outputs for
    the endpoint registry.
    """

    name: str
    model_class: Any
    execution_mechanism: str = "naive"
    model_artifact: Artifact | None = None
    input_path: str | None = None
    result_path: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | dict[str, str] | None = None
    creation_strategy: str = "inplace"
    inputs: list[str] | None = None
    outputs: list[str] | None = None
    shared_model_name: str | None = None

    @property
    def class_label(self) -> str:
        ref = self.model_class
        if isinstance(ref, str):
            return ref
        return (ref if isinstance(ref, type) else type(ref)).__name__

    def build(self, namespace: dict[str, Any] | None = None) -> Model:
        """The model object, named after the endpoint and told its execution mechanism."""
        found = resolve_model_class(self.model_class, namespace, self.name)
        if isinstance(found, Model):
            model = found
            if model.artifact_uri is None and self.model_artifact is not None:
                model.artifact_uri = self.model_artifact
        elif isinstance(found, type) and issubclass(found, Model):
            kwargs: dict[str, Any] = {**self.params, "name": self.name}
            if self.model_artifact is not None:
                kwargs["artifact_uri"] = self.model_artifact
            explicit = _explicit_params(found)
            for key in ("input_path", "result_path"):
                value = getattr(self, key)
                if value is not None and key in explicit:
                    kwargs[key] = value
            try:
                model = found(**kwargs)
            except TypeError as exc:
                raise TypeError(f"failed to init model {self.name}: {exc}") from exc
        else:
            raise GraphError(
                f"Model '{self.name}': model_class must be a Model subclass, a Model instance "
                f"or the name of one, got {found!r}"
            )
        model.name = self.name
        model.execution_mechanism = self.execution_mechanism
        return model

    def to_dict(self) -> dict[str, Any]:
        ref = self.model_class
        params = dict(self.params)
        if isinstance(ref, Model):
            params = {k: v for k, v in ref.to_dict().items() if k not in ("class_name", "name")}
            params.pop("artifact_uri", None)
            params.pop("raise_exception", None)
            ref = type(ref)
        data: dict[str, Any] = {
            # a shared model's proxy has no class of its own (None): the shared model's runs
            "model_class": ref if ref is None or isinstance(ref, str) else class_path(ref),
            "execution_mechanism": self.execution_mechanism,
            "model_artifact": artifact_ref(self.model_artifact),
            "input_path": self.input_path,
            "result_path": self.result_path,
            "labels": self.labels,
            "model_endpoint_creation_strategy": self.creation_strategy,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "shared_model_name": self.shared_model_name,
            "model_parameters": params,
        }
        return {k: v for k, v in data.items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> ModelSpec:
        artifact = data.get("model_artifact")
        return cls(
            name=name,
            model_class=data.get("model_class"),
            execution_mechanism=data.get("execution_mechanism", "naive"),
            model_artifact=load_artifact(artifact) if artifact is not None else None,
            input_path=data.get("input_path"),
            result_path=data.get("result_path"),
            params=dict(data.get("model_parameters") or {}),
            labels=data.get("labels"),
            creation_strategy=data.get("model_endpoint_creation_strategy", "inplace"),
            inputs=data.get("inputs"),
            outputs=data.get("outputs"),
            shared_model_name=data.get("shared_model_name"),
        )


__all__ = [
    "Model",
    "ModelRunnerError",
    "ModelRunnerSelector",
    "ModelSelector",
    "ModelSpec",
    "class_path",
    "resolve_model_class",
]
