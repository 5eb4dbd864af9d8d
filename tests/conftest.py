"""Shared fixtures: every scenario test runs once per engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamgraph.testing import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine a scenario runs on: 'local' (in process) and, where built, 'kafka'."""
    yield request.param
