"""Artifacts: JSON files in a local folder, resolved from objects, paths and file:// URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamgraph.serving.artifacts import (
    ArtifactError,
    LLMPromptArtifact,
    ModelArtifact,
    artifact_ref,
    artifact_reference,
    load_artifact,
)


def prompt(model: ModelArtifact) -> LLMPromptArtifact:
    return LLMPromptArtifact(
        key="travel",
        model_artifact=model,
        prompt_template=[
            {"role": "system", "content": "You plan trips."},
            {"role": "user", "content": "Plan {days} days in {city}."},
        ],
        prompt_legend={"city": {"field": "destination", "description": "where to go"}},
        invocation_config={"temperature": 0.2},
    )


def test_model_artifact_round_trips_through_a_json_file(tmp_path: Path) -> None:
    model = ModelArtifact("iris", model_file="iris.joblib", parameters={"threshold": 0.5})
    path = model.save(tmp_path)

    assert path == str(tmp_path / "iris.json")
    assert model.uri == path
    on_disk = json.loads(Path(path).read_text())
    assert on_disk["kind"] == "model"
    loaded = ModelArtifact.load(path)
    assert loaded == model
    assert loaded.local_model_path() == str(tmp_path / "iris.joblib")


def test_prompt_artifact_saves_its_unsaved_model_and_loads_back(tmp_path: Path) -> None:
    model = ModelArtifact("llm", model_url="scripted://")
    path = prompt(model).save(tmp_path)

    assert (tmp_path / "llm.json").exists()
    loaded = load_artifact(path)
    assert isinstance(loaded, LLMPromptArtifact)
    assert loaded.model_artifact.model_url == "scripted://"
    assert loaded.model_artifact.uri == str(tmp_path / "llm.json")
    assert loaded.prompt_template[1]["content"] == "Plan {days} days in {city}."
    assert loaded.prompt_legend["city"]["field"] == "destination"
    assert loaded.invocation_config == {"temperature": 0.2}


def test_read_prompt_returns_a_copy() -> None:
    artifact = prompt(ModelArtifact("llm", model_url="scripted://"))
    copy = artifact.read_prompt()
    copy[1]["content"] = "changed"
    assert artifact.prompt_template[1]["content"] == "Plan {days} days in {city}."


def test_file_uri_and_path_objects_resolve(tmp_path: Path) -> None:
    path = ModelArtifact("m", model_url="mock://").save(tmp_path)
    assert load_artifact(f"file://{path}") == load_artifact(Path(path))


def test_prompt_model_may_be_given_as_a_path(tmp_path: Path) -> None:
    model_path = ModelArtifact("m", model_url="mock://").save(tmp_path)
    artifact = LLMPromptArtifact("p", model_artifact=model_path)  # type: ignore[arg-type]
    assert artifact.model_artifact.key == "m"


@pytest.mark.parametrize("uri", ["store://artifacts/proj/model", "s3://bucket/model.json"])
def test_remote_schemes_are_refused_with_what_is_supported(uri: str) -> None:
    with pytest.raises(ArtifactError, match=r"local paths and file:// URIs"):
        load_artifact(uri)


def test_missing_artifact_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="Artifact not found"):
        load_artifact(str(tmp_path / "nope.json"))


def test_wrong_reference_type() -> None:
    with pytest.raises(ArtifactError, match="must be a string, ModelArtifact or LLMPromptArtifact"):
        load_artifact(42)


def test_unknown_kind_and_non_json(tmp_path: Path) -> None:
    (tmp_path / "odd.json").write_text('{"kind": "dataset", "key": "d"}')
    with pytest.raises(ArtifactError, match="Unknown artifact kind 'dataset'"):
        load_artifact(str(tmp_path / "odd.json"))
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ArtifactError, match="cannot be read as JSON"):
        load_artifact(str(tmp_path / "bad.json"))


def test_prompt_messages_need_role_and_content() -> None:
    with pytest.raises(ArtifactError, match="needs 'role' and 'content'"):
        LLMPromptArtifact(
            "p", ModelArtifact("m", model_url="mock://"), prompt_template=[{"text": "hi"}]
        )


def test_keys_must_be_file_names(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot be used as a file name"):
        ModelArtifact("../escape").save(tmp_path)


def test_artifact_ref_is_the_path_when_saved_else_the_dict(tmp_path: Path) -> None:
    model = ModelArtifact("m", model_url="mock://")
    assert artifact_ref(model) == {"kind": "model", "key": "m", "model_url": "mock://"}
    model.save(tmp_path)
    assert artifact_ref(model) == str(tmp_path / "m.json")
    assert load_artifact(artifact_ref(model)) == model


@pytest.mark.parametrize("key", ["my-model", "my_model.v2", "my-model:latest", "m@0a1b"])
def test_a_plain_key_is_kept_as_a_reference(key: str) -> None:
    artifact = artifact_reference(key)
    assert isinstance(artifact, ModelArtifact)
    assert (artifact.key, artifact.uri, artifact.model_file, artifact.model_url) == (
        key,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("ref", ["dir/model", "model.json", "/abs/model", "file:///x/model"])
def test_a_reference_naming_a_file_must_exist(ref: str) -> None:
    with pytest.raises(ArtifactError, match="names a file that does not exist"):
        artifact_reference(ref)


def test_an_existing_file_reference_is_read(tmp_path: Path) -> None:
    path = ModelArtifact("m", model_url="mock://").save(tmp_path)
    assert artifact_reference(path) == load_artifact(path)
