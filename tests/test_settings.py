"""Settings that used to be read in other modules: their variables, defaults and blanks."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgraph.broker.jars import kafka_home
from streamgraph.settings import Settings, secret

MOVED = ("UVLOOP", "KAFKA_HOME", "TEST_BROKERS", "TEST_KAFKA", "DEPLOYED_PROCESS")


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in MOVED:
        monkeypatch.delenv(f"STREAMGRAPH_{name}", raising=False)
    for name in ("JAVA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.uvloop is True
    assert settings.kafka_home is None and settings.java_home is None
    assert settings.test_brokers == "" and settings.test_kafka == "jar"
    assert settings.deployed_process is False
    assert kafka_home() == Path("~/.cache/streamgraph/kafka").expanduser()


def test_variables(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean.setenv("STREAMGRAPH_UVLOOP", "false")
    clean.setenv("STREAMGRAPH_TEST_KAFKA", " Docker ")
    clean.setenv("STREAMGRAPH_DEPLOYED_PROCESS", "1")
    clean.setenv("JAVA_HOME", "/opt/jdk")
    clean.setenv("XDG_CACHE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.uvloop is False
    assert settings.test_kafka == "docker"
    assert settings.deployed_process is True
    assert settings.java_home == Path("/opt/jdk")
    assert kafka_home() == tmp_path / "streamgraph" / "kafka"
    clean.setenv("STREAMGRAPH_KAFKA_HOME", str(tmp_path / "jars"))
    assert kafka_home() == tmp_path / "jars"
    with pytest.raises(ValueError, match="test_kafka"):
        Settings(test_kafka="podman")  # type: ignore[arg-type]


def test_blank_paths_are_unset(clean: pytest.MonkeyPatch) -> None:
    for name in ("STREAMGRAPH_KAFKA_HOME", "JAVA_HOME", "XDG_CACHE_HOME"):
        clean.setenv(name, "")
    settings = Settings()
    assert settings.kafka_home is None and settings.java_home is None
    assert settings.xdg_cache_home is None


def test_secrets_are_environment_variables(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("MY_STEP_TOKEN", "s3cret")
    assert secret("MY_STEP_TOKEN") == "s3cret"
    assert secret("NOT_SET_ANYWHERE_42") is None


def test_no_secret_setting_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "STREAMGRAPH_LLM_API_KEY": "sk-llm-secret-1",
        "STREAMGRAPH_GATEWAY_TOKENS": "tok-secret-2,tok-secret-3",
        "STREAMGRAPH_KAFKA_SASL_PASSWORD": "kafka-secret-4",
        "STREAMGRAPH_KAFKA_SSL_KEY_PASSWORD": "key-secret-5",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for value in secrets.values():
        for part in value.split(","):
            assert part not in shown
    assert settings.gateway_tokens.get_secret_value() == "tok-secret-2,tok-secret-3"


def test_settings_without_secrets_never_fetch_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """`streamgraph manifests` reads the settings so: a secret's variable is never looked up (an
    environment that raises on it), every other setting is, and the settings hold no secret.
    (pydantic-settings' own default source, built and then replaced, still copies the whole
    environment into memory: nothing of it reaches the settings.)"""
    import os

    from streamgraph.settings import SECRET_FIELDS, settings_without_secrets

    secrets = {f"STREAMGRAPH_{name.upper()}" for name in SECRET_FIELDS}

    class Guarded(dict[str, str]):
        def __getitem__(self, key: str) -> str:
            assert key not in secrets, f"{key} was read"
            return super().__getitem__(key)

        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            assert key not in secrets, f"{key} was read"
            return super().get(key, default)

    environment = Guarded(os.environ)
    environment.update(dict.fromkeys(secrets, "s3cret"))
    environment["STREAMGRAPH_PARTITIONS"] = "6"
    monkeypatch.setattr(os, "environ", environment)
    settings = settings_without_secrets(brokers="kafka:9092")
    assert settings.partitions == 6 and settings.brokers == "kafka:9092"
    assert settings.kafka_sasl_password is None and settings.llm_api_key is None
