"""Fixtures of the connection tests: no STREAMGRAPH_KAFKA_* from the caller's environment, and
throwaway PEM files (pem_files.py)."""

from __future__ import annotations

import os

import pytest
from pem_files import Pem, make_pem


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("STREAMGRAPH_KAFKA_") or name == "STREAMGRAPH_BROKERS":
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture(scope="session")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Pem:
    return make_pem(tmp_path_factory.mktemp("pem"))
