"""Shared fixtures: every scenario test runs once per engine; Kafka tests share one broker."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from streamgraph import testing
from streamgraph.engines.kafka.harness import NothingToFuse

pytest_plugins = ["streamgraph.broker.pytest_plugin", "task_dump"]


def pytest_configure(config: pytest.Config) -> None:
    # the brokers `run` and `kafka start` record go to a folder of this session, never the
    # user's (~/.local/state/streamgraph); the processes tests start inherit it
    if "STREAMGRAPH_STATE_DIR" not in os.environ:
        os.environ["STREAMGRAPH_STATE_DIR"] = tempfile.mkdtemp(prefix="sg-test-state-")
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:  # each xdist worker records its brokers apart (`kafka status` lists them)
        own = Path(os.environ["STREAMGRAPH_STATE_DIR"]) / worker
        own.mkdir(parents=True, exist_ok=True)
        os.environ["STREAMGRAPH_STATE_DIR"] = str(own)
    # the examples (agents, topologies) are in the checkout, not installed: `pythonpath` in
    # pyproject.toml puts its root on this process's sys.path; the processes tests start (workers
    # in folders of their own included) find them on PYTHONPATH
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, *paths) if p)


#: The Kafka engine again under each setting that changes how every graph runs on it; the
#: scenario and acceptance tests run under each with `--kafka-variants=all` (`make test`)
KAFKA_VARIANTS: dict[str, dict[str, str]] = {
    "kafka": {},
    "kafka-fused": {"STREAMGRAPH_FUSE_STEPS": "true"},  # only graphs that fuse a step
    "kafka-stock": {"STREAMGRAPH_LEAN_TRANSPORT": "false"},  # Faust's own classes
    # but for the graphs exactly_once refuses (each refusal is tested in tests/kafka)
    "kafka-eos": {"STREAMGRAPH_PROCESSING_GUARANTEE": "exactly_once"},
}
VARIANT_FOLDERS = ("scenarios", "acceptance")
REFUSED_UNDER_EOS = "refused_under_exactly_once"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-variants",
        default="kafka",
        help="the Kafka engine's variants the scenario and acceptance tests run on: 'all', or "
        f"some of {', '.join(KAFKA_VARIANTS)} separated by commas (default: kafka)",
    )


def _variants(config: pytest.Config) -> list[str]:
    given = str(config.getoption("--kafka-variants"))
    names = list(KAFKA_VARIANTS) if given == "all" else [v.strip() for v in given.split(",")]
    unknown = [name for name in names if name not in KAFKA_VARIANTS]
    if unknown:
        raise pytest.UsageError(f"--kafka-variants: unknown {', '.join(unknown)}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" not in metafunc.fixturenames:
        return
    kafka = ["kafka"]
    if Path(metafunc.definition.path).parent.name in VARIANT_FOLDERS:
        kafka = _variants(metafunc.config)
    metafunc.parametrize("engine", ["local", *kafka], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    refused = [item for item in items if _refused_under_eos(item)]
    if refused:
        config.hook.pytest_deselected(items=refused)
        items[:] = [item for item in items if not _refused_under_eos(item)]


def _refused_under_eos(item: pytest.Item) -> bool:
    params = getattr(item, "callspec", None)
    variant = params.params.get("engine") if params is not None else None
    return variant == "kafka-eos" and item.get_closest_marker(REFUSED_UNDER_EOS) is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NothingToFuse):
        # the kafka variant ran this very plan already: not a failure, nothing new to run
        report.outcome = "skipped"
        report.longrepr = (__file__, 0, "Skipped: nothing to fuse (the kafka variant ran it)")
    return report


@pytest.fixture(autouse=True)
def _close_served_servers() -> Iterator[None]:
    """Every server a test's `serve()` started stops after it, with or without the engine
    fixture: a Kafka server left running keeps its consumer thread, and pytest from exiting."""
    yield
    testing.close_all()


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The engine a scenario runs on: 'local' (in process) or 'kafka' (a real broker), the
    latter possibly under one of KAFKA_VARIANTS' settings (the test sees 'kafka' alike)."""
    variant: str = request.param
    if variant in KAFKA_VARIANTS:
        request.applymarker(pytest.mark.kafka)
        for name, value in KAFKA_VARIANTS[variant].items():
            monkeypatch.setenv(name, value)  # the processes the test starts inherit it too
        testing.require_fusion(variant == "kafka-fused")
        broker = request.getfixturevalue("kafka_broker")
        testing.use_brokers(broker.bootstrap_servers)
    try:
        yield "local" if variant == "local" else "kafka"
    finally:
        testing.close_all()
        testing.require_fusion(False)
