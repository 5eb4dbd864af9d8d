"""A fresh broker's coordinator election is one INFO line, not an ERROR per retry."""

from __future__ import annotations

import inspect
import logging

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import GroupCoordinatorNotAvailableError, NotCoordinatorForGroupError

import streamgraph.engines.kafka  # noqa: F401  (installs the filter, as every worker does)
from streamgraph.engines.kafka.coordinator_log import (
    AIOKAFKA_MESSAGE,
    LOGGER,
    WAITING,
    CoordinatorWaitFilter,
)


def test_aiokafka_still_logs_the_text_the_filter_matches() -> None:
    # if aiokafka rewords it, the filter would silently stop working: fail here instead
    assert f'log.error("{AIOKAFKA_MESSAGE}", err)' in inspect.getsource(GroupCoordinator)


def test_the_election_is_said_once_at_info_and_real_errors_stay(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = logging.getLogger(LOGGER)
    [installed] = [f for f in log.filters if isinstance(f, CoordinatorWaitFilter)]
    monkeypatch.setattr(installed, "_said_at", None)  # as in a fresh worker
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for _ in range(5):  # what aiokafka logs per retry while the coordinator is elected
            log.error(AIOKAFKA_MESSAGE, GroupCoordinatorNotAvailableError())
        log.error(AIOKAFKA_MESSAGE, NotCoordinatorForGroupError())
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert said == [
        ("INFO", WAITING),
        ("ERROR", AIOKAFKA_MESSAGE % NotCoordinatorForGroupError()),
    ]
