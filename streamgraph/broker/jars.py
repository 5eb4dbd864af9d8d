"""The Apache Kafka broker jars: fetched once from Maven Central with `mvn`, then used offline.

Kafka publishes every broker module on Maven Central, so `kafka_2.13` plus a logging backend is a
complete broker: no tarball, no Docker. The jars land in
`~/.cache/streamgraph/kafka/<version>/libs` (`$STREAMGRAPH_KAFKA_HOME/<version>/libs` when that
is set). Later starts find the jars there and never call Maven.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streamgraph.broker.errors import BrokerError
from streamgraph.settings import Settings

#: The Kafka release the broker runs unless told otherwise (see docs/kafka.md for why).
DEFAULT_VERSION = "4.4.0"

#: kafka-server 4.4.0 depends on log4j-api/core 2.25.5 at runtime, but the SLF4J 1.x binding
#: (log4j-slf4j-impl) is not in any Kafka POM. The pom names all three at this one version so
#: Maven's nearest-wins rule keeps them consistent whatever Kafka brings.
LOG4J_VERSION = "2.25.5"

#: The storage (format) tool lives inside kafka_2.13 in every 4.x release checked (4.1.1, 4.4.0).
STORAGE_TOOL = "kafka.tools.StorageTool"

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by streamgraph.broker.jars: it only downloads the broker jars, builds nothing. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamgraph</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka logs through SLF4J 1.7; without this binding the broker prints nothing. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <!-- pinned so Maven 3.8 does not pick whatever plugin version it resolves first -->
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.8.1</version>
      </plugin>
    </plugins>
  </build>
</project>
"""

Progress = Callable[[str], None]


def kafka_home(settings: Settings | None = None) -> Path:
    """The folder holding one `<version>/libs` per Kafka release."""
    settings = settings or Settings()
    if settings.kafka_home is not None:
        return settings.kafka_home.expanduser()
    cache = settings.xdg_cache_home or Path("~/.cache")
    return cache.expanduser() / "streamgraph" / "kafka"


def libs_dir(version: str = DEFAULT_VERSION) -> Path:
    """Where the jars of `version` live (they may not be there yet)."""
    return kafka_home() / version / "libs"


def classpath(libs: Path) -> str:
    """A classpath of every jar in `libs`; `java` expands the wildcard itself."""
    return str(libs / "*")


def render_pom(version: str) -> str:
    """The pom.xml whose runtime dependencies are exactly the broker's jars."""
    return _POM.format(kafka=version, log4j=LOG4J_VERSION)


def has_jars(version: str = DEFAULT_VERSION) -> bool:
    """True when the jars of `version` are already in the cache (so no Maven call is needed)."""
    return (libs_dir(version) / f"kafka_2.13-{version}.jar").is_file()


def ensure_jars(version: str = DEFAULT_VERSION, progress: Progress | None = None) -> Path:
    """The libs folder of `version`, fetching it with Maven on first use.

    Safe to call from several processes at once: a file lock lets one fetch while the others
    wait, and the folder appears by an atomic rename, so a half download is never used.
    """
    check_version(version)
    say = progress or _stderr
    libs = libs_dir(version)
    if has_jars(version):
        return libs
    root = libs.parent
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".fetch.lock"):
        if has_jars(version):  # another process fetched it while we waited
            return libs
        say(f"fetching Apache Kafka {version} jars with Maven (first use only)...")
        started = time.monotonic()
        partial = root / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _run_maven(root, version, partial)
        check_jars(partial, version)
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        jars = list(libs.glob("*.jar"))
        size = sum(j.stat().st_size for j in jars) / 1e6
        elapsed = time.monotonic() - started
        say(f"fetched {len(jars)} jars ({size:.0f} MB) in {elapsed:.0f} s into {libs}")
    return libs


def check_version(version: str) -> None:
    """Refuse releases this module was not written for (3.x needs another logging backend)."""
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) < 4:
        raise BrokerError(f"Kafka {version} is not supported: streamgraph runs Kafka 4.x brokers")


def check_jars(libs: Path, version: str) -> None:
    """Fail unless `libs` holds the broker and exactly one version of each log4j artifact."""
    names = [p.name for p in libs.glob("*.jar")]
    if f"kafka_2.13-{version}.jar" not in names:
        raise BrokerError(f"kafka_2.13-{version}.jar is missing from {libs}")
    for artifact in ("log4j-api", "log4j-core", "log4j-slf4j-impl"):
        found = [n for n in names if n.startswith(f"{artifact}-2.")]
        if len(found) != 1:
            raise BrokerError(f"expected one {artifact} jar in {libs}, found {found or 'none'}")


def _run_maven(root: Path, version: str, out: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven (`mvn`) is needed once to fetch the Kafka jars from Maven Central: install it "
            "(apt-get install maven), or point STREAMGRAPH_KAFKA_HOME at a folder that already "
            f"holds {version}/libs"
        )
    pom = root / "pom.xml"
    pom.write_text(render_pom(version))
    command = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",  # plain text in the error tail we show
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",  # runtime scope also copies compile-scope jars
        f"-DoutputDirectory={out}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"Maven did not finish fetching Kafka {version} in 15 minutes") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise BrokerError(
            f"Maven could not fetch Kafka {version} (exit {done.returncode})",
            "\n".join(output[-40:]),
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = [
    "DEFAULT_VERSION",
    "LOG4J_VERSION",
    "STORAGE_TOOL",
    "check_jars",
    "classpath",
    "ensure_jars",
    "has_jars",
    "kafka_home",
    "libs_dir",
    "render_pom",
]
