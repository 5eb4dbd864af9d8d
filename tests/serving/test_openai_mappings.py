"""`fn.set_openai_frontend()`: its checks, and the setting travelling with the function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import streamgraph as sg
from streamgraph.errors import GraphError
from streamgraph.locate import load_function
from streamgraph.reference import function_reference
from streamgraph.serving.openai_mappings import OpenAIEndpoint, OpenAIFrontend


def echo(body: dict) -> dict:
    return body


def built() -> sg.ServingFunction:
    fn = sg.new_function("oa-spec")
    fn.set_topology("flow").to(name="echo", handler="echo").respond()
    return fn


def test_defaults_serve_both_groups_under_v1_for_the_function_name() -> None:
    fn = built()
    assert fn.spec.openai_frontend is None  # off unless asked
    fn.set_openai_frontend()
    frontend = OpenAIFrontend.from_dict(fn.spec.openai_frontend or {})
    assert frontend.endpoints == (OpenAIEndpoint.RESPONSES, OpenAIEndpoint.CHAT_COMPLETIONS)
    assert frontend.prefix == "/v1"
    assert frontend.model_names(fn.name) == ("oa-spec",)
    assert frontend.input_key is None


def test_mlrun_style_arguments() -> None:
    fn = built()
    fn.set_openai_frontend([OpenAIEndpoint.CHAT_COMPLETIONS], prefix="/openai/", models="m1")
    assert fn.spec.openai_frontend == {
        "endpoints": ["chat_completions"],
        "prefix": "/openai",
        "models": ["m1"],
        "input_key": None,
    }
    fn.set_openai_frontend(["responses"], prefix=None)  # MLRun's default: no prefix
    assert fn.spec.openai_frontend is not None
    assert fn.spec.openai_frontend["prefix"] == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": ["audio"]}, "unknown OpenAI endpoint group 'audio'"),
        ({"endpoints": []}, "at least one endpoint group"),
        ({"prefix": "v1"}, "must start with '/'"),
        ({"models": ["ok", ""]}, "model names must be non-empty"),
        ({"input_key": ""}, "input_key must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused_when_declared(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        built().set_openai_frontend(**kwargs)


def test_the_setting_survives_to_dict_and_the_json_spec(tmp_path: Path) -> None:
    fn = built()
    fn.set_openai_frontend(prefix="/x", models=["a", "b"], input_key="question")
    assert fn.to_dict()["spec"]["openai_frontend"] == fn.spec.openai_frontend
    reference = function_reference(fn, tmp_path)  # built in a test: written as a JSON spec
    assert reference.endswith(".json")
    assert json.loads(Path(reference).read_text())["openai_frontend"] == fn.spec.openai_frontend
    loaded = load_function(reference)
    assert loaded.spec.openai_frontend == fn.spec.openai_frontend
    plain = built()
    assert load_function(function_reference(plain, tmp_path)).spec.openai_frontend is None
