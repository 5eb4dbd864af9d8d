"""Every Kafka client streamgraph makes gets the security of `connection/kafka_security.py`.

Scans the source with `ast` for the construction of a Kafka client and requires, at that call,
the arguments of the one place that builds them:

- aiokafka (`AIOKafkaProducer`, `AIOKafkaConsumer`, `AIOKafkaAdminClient`, `AIOKafkaClient`,
  and streamgraph's subclasses of them): a `**<security>.aiokafka_args()` keyword;
- confluent-kafka (`Producer`, `Consumer`, `AdminClient`): a config dict holding
  `**<security>.confluent_config()`;
- a Faust app (`faust.App`, `LeanApp`, any call with a `broker=` keyword):
  `broker_credentials=<security>.faust_credentials()`.

A client made without them would reach only an open PLAINTEXT broker; the failure names the
file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "streamgraph"

AIOKAFKA = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient"}
CONFLUENT = {"Producer", "Consumer", "AdminClient"}
FAUST = {"App"}
# left open on purpose, with the reason
EXEMPT = {
    # asks a broker `LocalKafka` itself just started (loopback, its own listeners) whether every
    # node joined: the local development broker, never a user's cluster
    "streamgraph/broker/probe.py": "the local broker's readiness probe",
}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_call_of(node: ast.AST | None, method: str) -> bool:
    return isinstance(node, ast.Call) and _name(node.func) == method


def _subclasses(trees: list[ast.Module], bases: set[str]) -> set[str]:
    """Names of classes in the package that derive, at any depth, from `bases`."""
    found = set(bases)
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in found
                    and any(_name(base) in found for base in node.bases)
                ):
                    found.add(node.name)
                    grew = True
    return found - bases


def _library(call: ast.Call, aiokafka: set[str], faust: set[str]) -> str | None:
    name = _name(call.func)
    if name in aiokafka:
        return "aiokafka"
    if name in CONFLUENT:
        return "confluent"
    if name in faust or any(k.arg == "broker" for k in call.keywords):
        return "faust"
    return None


def _secured(call: ast.Call, library: str) -> bool:
    if library == "aiokafka":
        return any(k.arg is None and _is_call_of(k.value, "aiokafka_args") for k in call.keywords)
    if library == "faust":
        return any(
            k.arg == "broker_credentials" and _is_call_of(k.value, "faust_credentials")
            for k in call.keywords
        )
    return any(
        isinstance(node, ast.Dict)
        and any(key is None and _is_call_of(v, "confluent_config") for key, v in zip(
            node.keys, node.values, strict=True))
        for arg in call.args
        for node in ast.walk(arg)
    )  # fmt: skip


def unsecured_clients(sources: dict[str, str]) -> list[str]:
    """`path:line: Class(...)` of each client construction without the security arguments."""
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    subclasses = _subclasses(list(trees.values()), AIOKAFKA | FAUST)
    faust = FAUST | {n for n in subclasses if n.endswith("App")}
    aiokafka = AIOKAFKA | (subclasses - faust)
    found = []
    for path, tree in sorted(trees.items()):
        if path in EXEMPT:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            library = _library(node, aiokafka, faust)
            if library is not None and not _secured(node, library):
                found.append(f"{path}:{node.lineno}: {_name(node.func)}(...) ({library})")
    return found


def _package_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_kafka_client_gets_the_security_arguments() -> None:
    missing = unsecured_clients(_package_sources())
    assert missing == [], (
        "Kafka clients made without connection/kafka_security.py's arguments "
        "(**security.aiokafka_args(), broker_credentials=security.faust_credentials(), "
        "{**config, **security.confluent_config()}):\n" + "\n".join(missing)
    )


def test_the_scan_finds_clients_without_them() -> None:
    sample = """class Mine(AIOKafkaProducer): ...
class MyApp(faust.App): ...
a = AIOKafkaConsumer(bootstrap_servers=b, **security.aiokafka_args())
b = AIOKafkaAdminClient(bootstrap_servers=b)
c = Mine(bootstrap_servers=b, **options)
d = Producer({**config, **security.confluent_config()})
e = Consumer(config)
f = faust.App("x", broker=brokers, broker_credentials=security.faust_credentials())
g = app_class("x", broker=brokers)
h = MyApp("y", broker_credentials=None)
"""
    assert unsecured_clients({"sample.py": sample}) == [
        "sample.py:4: AIOKafkaAdminClient(...) (aiokafka)",
        "sample.py:5: Mine(...) (aiokafka)",
        "sample.py:7: Consumer(...) (confluent)",
        "sample.py:9: app_class(...) (faust)",
        "sample.py:10: MyApp(...) (faust)",
    ]
    assert set(EXEMPT) <= set(_package_sources())  # an exemption names a file that exists
