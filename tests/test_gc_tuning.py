"""The garbage collector tuning of worker and gateway processes (streamgraph/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streamgraph.gc_tuning import tune_gc
from streamgraph.settings import Settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_start_up_objects_and_raises_the_young_threshold(restored_gc: None) -> None:
    built_at_start = [{"step": n} for n in range(1000)]
    tune_gc(Settings(gc_gen0_threshold=50_000))
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() >= len(built_at_start)


def test_zero_keeps_pythons_defaults(restored_gc: None) -> None:
    before = gc.get_threshold()
    tune_gc(Settings(gc_gen0_threshold=0))
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_threshold_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGRAPH_GC_GEN0_THRESHOLD", "1234")
    assert Settings().gc_gen0_threshold == 1234
    monkeypatch.setenv("STREAMGRAPH_GC_GEN0_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="gc_gen0_threshold"):
        Settings()
