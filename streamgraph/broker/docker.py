"""The same one-node broker from the apache/kafka image, for machines that have Docker.

Used by the pytest plugin when STREAMGRAPH_TEST_KAFKA=docker. It runs the settings of
`config.docker_environment`, which docker-compose.kafka.yml also holds, and is ready on the same
terms as the jar broker: when it answers an ApiVersions request. testcontainers is imported only
here and only when used, so the jar broker never needs it.
"""

from __future__ import annotations

import time
from typing import Any, Self

from streamgraph.broker.config import docker_environment
from streamgraph.broker.errors import BrokerError
from streamgraph.broker.jars import DEFAULT_VERSION
from streamgraph.broker.probe import answers_api_versions, free_ports

DOCKER_IMAGE = f"apache/kafka:{DEFAULT_VERSION}"


class DockerKafka:
    """A one-node KRaft broker in a container; `bootstrap_servers` once started."""

    def __init__(self, image: str = DOCKER_IMAGE, start_timeout: float = 120.0) -> None:
        self.image = image
        self._start_timeout = start_timeout
        self._container: Any = None
        self._address = ""

    @property
    def bootstrap_servers(self) -> str:
        if not self._address:
            raise BrokerError("the Docker broker has not been started")
        return self._address

    def start(self) -> Self:
        """Start the container and wait until the broker answers; BrokerError with its logs."""
        try:
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise BrokerError(
                "STREAMGRAPH_TEST_KAFKA=docker needs testcontainers: pip install -e '.[test]'"
            ) from exc
        # the same port inside and outside, so the advertised address works from the host
        port = free_ports(1)[0]
        try:
            container = DockerContainer(self.image)
            docker_host = container.get_docker_client().host()
            host = "127.0.0.1" if docker_host in ("localhost", "127.0.0.1") else docker_host
            for key, value in docker_environment(port, host).items():
                container.with_env(key, value)
            container.with_bind_ports(port, port)
            self._container = container.start()
        except Exception as exc:  # docker unreachable, image missing, ...
            raise BrokerError(f"could not start {self.image} with Docker: {exc}") from exc
        deadline = time.monotonic() + self._start_timeout
        while not answers_api_versions(host, port, check_listening=False):
            if time.monotonic() > deadline:
                logs = self._logs()
                self.stop()
                raise BrokerError(f"{self.image} did not answer on {host}:{port}", logs)
            time.sleep(0.5)
        self._address = f"{host}:{port}"
        return self

    def stop(self) -> None:
        """Remove the container (and its data); idempotent."""
        if self._container is not None:
            self._container.stop()
            self._container = None
        self._address = ""

    def _logs(self) -> str:
        try:
            out, err = self._container.get_logs()
        except Exception:  # best effort: the container may already be gone
            return ""
        text = (out + err).decode(errors="replace")
        return "\n".join(text.splitlines()[-40:])


__all__ = ["DOCKER_IMAGE", "DockerKafka"]
