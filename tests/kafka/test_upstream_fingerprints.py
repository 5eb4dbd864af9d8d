"""The upstream internals streamgraph relies on are all listed, and none changed (no broker)."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient
from faust.transport import consumer as faust_consumer
from mode.services import ServiceTask

from streamgraph.engines.kafka import batches, consumer_thread, transport, upstream
from streamgraph.engines.kafka.upstream import UPSTREAM, Upstream, changed, fingerprint

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_PACKAGES = ("faust", "mode", "aiokafka")
# private names of other libraries (not Faust, mode or aiokafka) that our code may read
OTHER_LIBRARIES = {
    "_exit": "os._exit",
    "_server": "aiohttp's site, tests/gateway/gateway_live.py",
    # confluent_kafka.KafkaError's documented local error codes (librdkafka's
    # RD_KAFKA_RESP_ERR__*): public API in spite of the underscore
    "_AUTHENTICATION": "confluent_kafka.KafkaError._AUTHENTICATION",
    "_SSL": "confluent_kafka.KafkaError._SSL",
    "_TRANSPORT": "confluent_kafka.KafkaError._TRANSPORT",
}


def test_no_listed_upstream_member_changed() -> None:
    problems = changed()
    assert not problems, "upstream members changed since they were fingerprinted:\n" + "\n".join(
        problems
    )


def test_a_member_whose_source_changed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getmany(self: Any, timeout: float) -> Any:  # a different upstream implementation
        return await self._wait_next_records(timeout * 2)

    monkeypatch.setattr(faust_consumer.Consumer, "getmany", getmany)
    problems = changed()
    assert len(problems) == 1, problems
    assert problems[0].startswith("faust.transport.consumer:Consumer.getmany changed")
    assert "transport.LeanConsumer.getmany" in problems[0]


def test_a_member_that_is_gone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(AIOKafkaClient, "add_topic")
    problems = changed()
    assert len(problems) == 1, problems
    assert problems[0].startswith("aiokafka.client:AIOKafkaClient.add_topic is gone")


def _load(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fingerprints_see_code_not_comments_or_docstrings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _load(tmp_path, "v1", "def member(x):\n    return x + 1\n")
    reworded = _load(
        tmp_path,
        "v1_doc",
        'def member(x):\n    """Docs."""\n    # a comment\n    return (x +\n            1)\n',
    )
    changed_code = _load(tmp_path, "v2", "def member(x):\n    return x + 2\n")
    assert fingerprint(original.member) == fingerprint(reworded.member)
    assert fingerprint(original.member) != fingerprint(changed_code.member)
    member = Upstream("sg_upstream_probe:member", "a test", "why", fingerprint(original.member))
    monkeypatch.setitem(sys.modules, "sg_upstream_probe", reworded)
    assert changed((member,)) == []
    monkeypatch.setitem(sys.modules, "sg_upstream_probe", changed_code)
    assert changed((member,)) == [
        f"sg_upstream_probe:member changed (fingerprint {member.fingerprint} -> "
        f"{fingerprint(changed_code.member)}); re-check a test: why"
    ]


LEAN_CLASSES = (
    transport.LeanApp,
    transport.LeanConsumer,
    transport.LeanSchema,
    transport.LeanTableManager,
    transport.LeanTransport,
    batches.LeanStream,
    consumer_thread.LeanConsumerThread,
    consumer_thread.LeanMethodQueue,
    consumer_thread.LeanMethodQueueWorker,
)


def test_every_override_of_an_upstream_method_is_listed() -> None:
    targets = {member.target for member in UPSTREAM}
    missing = []
    for cls in LEAN_CLASSES:
        for name, value in vars(cls).items():
            overrides = inspect.isfunction(value) or isinstance(value, property | ServiceTask)
            if name == "__init__" or not overrides:
                continue  # constructors only pass Faust's public options
            for base in cls.__mro__[1:]:
                if name in vars(base):
                    if base.__module__.split(".")[0] in UPSTREAM_PACKAGES:
                        target = f"{base.__module__}:{base.__qualname__}.{name}"
                        if target not in targets:
                            missing.append(f"{cls.__name__}.{name} overrides {target}")
                    break
    assert not missing, "add these to upstream.UPSTREAM:\n" + "\n".join(missing)


def _python_files() -> list[Path]:
    return [
        path
        for folder in ("streamgraph", "bench", "tests", "agents", "topologies")
        for path in (ROOT / folder).rglob("*.py")
    ]


def _own_private_names(trees: list[ast.AST]) -> set[str]:
    """Private names our own code defines: functions, methods, attributes, class fields."""
    own = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
    return {name for name in own if name.startswith("_")}


def _private_reads(tree: ast.AST, include_self: bool) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        if include_self or not on_self:
            found.add(name)
    return found


def test_every_private_upstream_name_our_code_reads_is_listed() -> None:
    # the lean classes subclass Faust's: there, `self._x` reads Faust's own attributes too
    subclass_modules = {Path(m.__file__) for m in (transport, batches, consumer_thread)}
    trees = {path: ast.parse(path.read_text()) for path in _python_files()}
    # a name defined only in the subclass modules is still Faust's if Faust reads it there
    own = _own_private_names([t for p, t in trees.items() if p not in subclass_modules])
    own |= {"_pressure", "_event_class", "_pressure_callbacks", "_hand_over"}  # LeanConsumer's
    read: dict[str, set[Path]] = {}
    for path, tree in trees.items():
        for name in _private_reads(tree, include_self=path in subclass_modules):
            read.setdefault(name, set()).add(path.relative_to(ROOT))
    listed = set()
    for member in UPSTREAM:
        listed.add(member.target.rsplit(".", 1)[-1])
        listed.update(re.findall(r"\b_[a-z]\w*", member.why))
    unlisted = {
        name: sorted(str(p) for p in paths)
        for name, paths in read.items()
        if name not in own and name not in listed and name not in OTHER_LIBRARIES
    }
    assert not unlisted, f"private upstream names read but not in upstream.UPSTREAM: {unlisted}"


def test_the_listing_module_documents_how_to_refresh() -> None:
    assert "python -m streamgraph.engines.kafka.upstream" in (upstream.__doc__ or "")
