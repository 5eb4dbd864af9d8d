"""Model and LLM-prompt artifacts, kept as JSON files in a local artifact folder.

MLRun keeps artifacts in its database and names them `store://...`; streamgraph has no database,
so an artifact is a small JSON file (`<folder>/<key>.json`) and its URI is that file's path.
`load_artifact` turns whatever a graph was given (an object, a path, a `file://` URI, a dict)
into an artifact object, and refuses remote schemes with a message saying what is supported.
`artifact_reference` also accepts a plain key (shared models and their proxies take one, as
MLRun does): it stays a reference, an unsaved `ModelArtifact(key)`, until the model reads it.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import StreamgraphError

MODEL_KIND = "model"
LLM_PROMPT_KIND = "llm-prompt"
# a key, optionally with a tag or uid (`key:tag`, `key@uid`); no separators, so never a path
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(?:[:@][A-Za-z0-9_.\-]+)?")


class ArtifactError(StreamgraphError, ValueError):
    """An artifact cannot be found, read or understood."""


@dataclass
class ModelArtifact:
    """A model: a model file (local path, relative to the artifact folder) or a model URL.

    `model_url` names an LLM provider (`openai://gpt-4o-mini`, `scripted://`, `mock://`);
    `parameters` are given to that provider (connection options and default invocation config)
    or read by a custom model's `load()`.
    """

    key: str
    model_file: str | None = None
    model_url: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None  # the JSON file this artifact was saved to or loaded from

    kind = MODEL_KIND

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "key": self.key}
        if self.model_file is not None:
            data["model_file"] = self.model_file
        if self.model_url is not None:
            data["model_url"] = self.model_url
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], uri: str | None = None) -> ModelArtifact:
        return cls(
            key=data["key"],
            model_file=data.get("model_file"),
            model_url=data.get("model_url"),
            parameters=dict(data.get("parameters") or {}),
            uri=uri,
        )

    def local_model_path(self) -> str | None:
        """The model file as a local path; a relative one is read against the artifact folder."""
        if not self.model_file:
            return None
        path = _local_path(self.model_file)
        if not os.path.isabs(path) and self.uri:
            path = os.path.join(os.path.dirname(_local_path(self.uri)), path)
        return path

    def save(self, folder: str | os.PathLike[str]) -> str:
        """Write `<folder>/<key>.json`; returns its path, which is now this artifact's URI."""
        self.uri = _write(folder, self.key, self.to_dict())
        return self.uri

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelArtifact:
        artifact = load_artifact(str(path))
        if not isinstance(artifact, ModelArtifact):
            raise ArtifactError(f"Artifact '{path}' is a {artifact.kind} artifact, not a model")
        return artifact


@dataclass
class LLMPromptArtifact:
    """A prompt for an LLM: a chat template with `{placeholders}`, their legend, and the model.

    `prompt_template` is a list of `{"role", "content"}` messages. `prompt_legend` maps a
    placeholder to `{"field": <body key or None>, "description": ...}`: a `field` fills the
    placeholder from that key of the body instead of the key named like the placeholder.
    """

    key: str
    model_artifact: ModelArtifact
    prompt_template: list[dict[str, str]] = field(default_factory=list)
    prompt_legend: dict[str, dict[str, Any]] = field(default_factory=dict)
    invocation_config: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None

    kind = LLM_PROMPT_KIND

    def __post_init__(self) -> None:
        # Accept a path or dict for the model, as MLRun's log_llm_prompt accepts a URI.
        resolved = load_artifact(self.model_artifact)
        if not isinstance(resolved, ModelArtifact):
            raise ArtifactError(
                f"LLMPromptArtifact '{self.key}': model_artifact must be a ModelArtifact"
            )
        self.model_artifact = resolved
        for message in self.prompt_template:
            if not isinstance(message, dict) or not {"role", "content"} <= message.keys():
                raise ArtifactError(
                    f"LLMPromptArtifact '{self.key}': each prompt_template message needs "
                    f"'role' and 'content', got {message!r}"
                )

    def read_prompt(self) -> list[dict[str, str]]:
        """A copy of the template, safe to fill in."""
        return copy.deepcopy(self.prompt_template)

    def to_dict(self) -> dict[str, Any]:
        model: Any = self.model_artifact.uri or self.model_artifact.to_dict()
        return {
            "kind": self.kind,
            "key": self.key,
            "model_artifact": model,
            "prompt_template": copy.deepcopy(self.prompt_template),
            "prompt_legend": copy.deepcopy(self.prompt_legend),
            "invocation_config": copy.deepcopy(self.invocation_config),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], uri: str | None = None) -> LLMPromptArtifact:
        model = data["model_artifact"]
        if isinstance(model, str) and uri and not _is_absolute_ref(model):
            # a relative model path is relative to the prompt's own folder
            model = os.path.join(os.path.dirname(_local_path(uri)), model)
        return cls(
            key=data["key"],
            model_artifact=model,
            prompt_template=list(data.get("prompt_template") or []),
            prompt_legend=dict(data.get("prompt_legend") or {}),
            invocation_config=dict(data.get("invocation_config") or {}),
            uri=uri,
        )

    def save(self, folder: str | os.PathLike[str]) -> str:
        """Write the prompt (and its model, if that was never saved) to `folder`."""
        if self.model_artifact.uri is None:
            self.model_artifact.save(folder)
        self.uri = _write(folder, self.key, self.to_dict())
        return self.uri

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LLMPromptArtifact:
        artifact = load_artifact(str(path))
        if not isinstance(artifact, LLMPromptArtifact):
            raise ArtifactError(f"Artifact '{path}' is a {artifact.kind} artifact, not a prompt")
        return artifact


Artifact = ModelArtifact | LLMPromptArtifact


def load_artifact(ref: Any) -> Artifact:
    """An artifact object from an object, a dict, a local path or a `file://` URI."""
    if isinstance(ref, ModelArtifact | LLMPromptArtifact):
        return ref
    if isinstance(ref, dict):
        return _from_dict(ref, None)
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        raise ArtifactError(
            "model_artifact must be a string, ModelArtifact or LLMPromptArtifact, "
            f"got {type(ref).__name__}"
        )
    path = _local_path(ref)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"Artifact not found: '{ref}'.") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Artifact '{ref}' cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"Artifact '{ref}' is not a JSON object")
    return _from_dict(data, os.path.abspath(path))


def artifact_reference(ref: Any) -> Artifact:
    """As `load_artifact`, but a plain key (`"my-model"`) is kept as a reference: an unsaved
    `ModelArtifact(key)` the model reads when it loads (MLRun resolves artifact URIs lazily).

    A string that names a file (a path, a `file://` URI, a `.json` name) must exist.
    """
    if isinstance(ref, str) and is_plain_key(ref):
        return ModelArtifact(key=ref)
    if isinstance(ref, str | os.PathLike) and not os.path.exists(_local_path(os.fspath(ref))):
        raise ArtifactError(
            f"Artifact not found: '{ref}' names a file that does not exist (a plain key, "
            "with no '/' and no '.json', would be kept as a reference)"
        )
    return load_artifact(ref)


def is_plain_key(ref: str) -> bool:
    """An artifact key such as `my-model` or `my-model:v2`, not a path, URI or JSON file name."""
    return bool(_PLAIN_KEY.fullmatch(ref)) and not ref.lower().endswith(".json")


def artifact_ref(artifact: Artifact | None) -> Any:
    """What a graph stores for an artifact: its file path if saved, else its full dict."""
    if artifact is None:
        return None
    return artifact.uri or artifact.to_dict()


def _from_dict(data: dict[str, Any], uri: str | None) -> Artifact:
    kind = data.get("kind", MODEL_KIND)
    if kind == MODEL_KIND:
        return ModelArtifact.from_dict(data, uri)
    if kind == LLM_PROMPT_KIND:
        return LLMPromptArtifact.from_dict(data, uri)
    raise ArtifactError(f"Unknown artifact kind {kind!r} (expected 'model' or 'llm-prompt')")


def _local_path(ref: str) -> str:
    parsed = urlparse(ref)
    if parsed.scheme == "file":
        return (
            parsed.netloc + parsed.path if parsed.netloc not in ("", "localhost") else parsed.path
        )
    # one-letter schemes are Windows drive letters, not URIs
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ArtifactError(
            f"Cannot get artifact '{ref}': '{parsed.scheme}://' artifacts are not supported; "
            "streamgraph reads artifacts from local paths and file:// URIs "
            "(save them with artifact.save(folder))"
        )
    return ref


def _is_absolute_ref(ref: str) -> bool:
    return ref.startswith("file://") or os.path.isabs(ref)


def _write(folder: str | os.PathLike[str], key: str, data: dict[str, Any]) -> str:
    if not key or "/" in key or "\\" in key or key in (".", ".."):
        raise ArtifactError(f"Artifact key {key!r} cannot be used as a file name")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{key}.json"
    # write-then-rename, so a reader never sees half a file
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return str(path.resolve())


__all__ = [
    "Artifact",
    "ArtifactError",
    "LLMPromptArtifact",
    "ModelArtifact",
    "artifact_ref",
    "artifact_reference",
    "is_plain_key",
    "load_artifact",
]
