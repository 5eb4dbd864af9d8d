"""Where runs keep their data: the per-user state folder, never the current folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import topologies.queue_child
from agents.config import ExampleSettings
from agents.log_dataset import save_record
from streamgraph.engines.kafka.app import KafkaGraph
from streamgraph.engines.kafka.faust_app import faust_datadir
from streamgraph.settings import Settings


def test_the_example_dataset_goes_to_the_state_folder_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STREAMGRAPH_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("STREAMGRAPH_EXAMPLE_LOG_DS_PATH", raising=False)
    default = tmp_path / "state" / "examples" / "log-ds.jsonl"
    assert ExampleSettings().log_ds_path == default
    assert save_record({"records": [{"int": 2}], "extend": "x"})["saved"] == 1
    assert default.read_text() == '{"int":2,"extend":"x"}\n'  # its folder made on first use

    chosen = tmp_path / "elsewhere" / "ds.jsonl"
    monkeypatch.setenv("STREAMGRAPH_EXAMPLE_LOG_DS_PATH", str(chosen))
    save_record({"int": 3})
    assert chosen.read_text() == '{"int":3}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "state"]


def test_faust_keeps_its_data_in_the_state_folder(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", topic_prefix="t")
    graph = KafkaGraph(topologies.queue_child.function, settings)
    assert graph.app.conf.datadir == tmp_path / "state" / "faust" / "t.queue-child"
    assert faust_datadir(settings, "x") == tmp_path / "state" / "faust" / "x"
    assert (tmp_path / "state" / "faust").is_dir()  # Faust makes the app's own folder only
    child = KafkaGraph(topologies.queue_child.function, settings, current_function="log-ds")
    assert child.app.conf.datadir == tmp_path / "state" / "faust" / "t.log-ds"
    given = KafkaGraph(topologies.queue_child.function, settings, datadir=str(tmp_path / "d"))
    assert given.app.conf.datadir == tmp_path / "d"  # (the test harness's temporary folder)
