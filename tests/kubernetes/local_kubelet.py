"""What a kubelet does with a pod of `streamgraph manifests`, done with local processes.

`read_manifests` reads the generated YAML; `LocalPod.of` turns a Job's or a Deployment's pod
template into a command line, an environment and folders; `start`, `wait_ready` and `stop`
run it. The image is the checkout: `streamgraph` is the virtual environment's script, and
`image_folder` copies what the Dockerfile copies into /app (agents/, topologies/) into a
read-only folder, every pod's working folder and PYTHONPATH.

How the pod's world is rewritten onto one machine:

- Environment: the image's own (Dockerfile `ENV`), then the ConfigMaps of `envFrom`, then
  `env` (a literal `value`, or `valueFrom` a ConfigMap's or a Secret's key: the Secrets are a
  dict the test gives). Nothing of the test's own environment leaks in but PATH's system
  folders and PYTHONPATH (the image's working folder).
- Network: every pod has its own network namespace, so in the YAML every worker listens on
  the same containerPorts (8081, 9108) and the gateway on 8080. Here the pods share the host's:
  each declared containerPort of each pod becomes a free port of 127.0.0.1, written where the
  YAML has the containerPort (the value after an option ending in `port`, and an env value
  equal to it); `0.0.0.0` after an option ending in `host` becomes 127.0.0.1. The probes and
  a Service's `targetPort` name the port, so they follow the mapping.
- Volumes: each volume becomes a folder of the test's own (an emptyDir an empty one, a Secret
  one holding the Secret's items); a path under a volumeMount's mountPath, in `env` or `args`,
  is rewritten under that folder, and the mount on /tmp becomes TMPDIR. HOME is a folder
  nobody may write, as the read-only root filesystem is.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LocalPod",
    "free_port",
    "image_folder",
    "of_kind",
    "passes",
    "read_manifests",
    "start",
    "stop",
    "wait_completed",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parents[2]  # the checkout
APP = ("agents", "topologies")  # what the Dockerfile copies into its working folder /app
BIN = Path(sys.executable).parent  # the image's /opt/streamgraph/bin
IMAGE_ENV = {  # Dockerfile's ENV, and the base image's locale
    "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "STREAMGRAPH_STATE_DIR": "/var/lib/streamgraph",
    "LANG": "C.UTF-8",
}


def image_folder(tmp: Path) -> Path:
    """The image's /app: a read-only copy of the checkout's agents/ and topologies/."""
    app = tmp / "app"
    for name in APP:
        shutil.copytree(ROOT / name, app / name, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [app, *(p for p in app.rglob("*") if p.is_dir())]:
        folder.chmod(0o555)  # the root filesystem is read-only
    return app


def read_manifests(folder: Path) -> list[dict[str, Any]]:
    """Every document of every YAML file `streamgraph manifests --out FOLDER` wrote."""
    documents = []
    for path in sorted(folder.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def of_kind(documents: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config_maps(documents: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(documents, "ConfigMap")}


def _key(source: Mapping[str, Mapping[str, str]], ref: Mapping[str, Any], what: str) -> str | None:
    value = source.get(ref["name"], {}).get(ref["key"])
    if value is None and not ref.get("optional", False):
        raise AssertionError(f"{what} {ref['name']} has no key {ref['key']}: the pod cannot start")
    return value


def resolve_env(
    container: Mapping[str, Any],
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """The container's environment from `envFrom` and `env`, over the image's."""
    env = dict(IMAGE_ENV)
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        else:
            env.update(secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        found = (
            _key(secrets, ref["secretKeyRef"], "Secret")
            if "secretKeyRef" in ref
            else _key(config_maps, ref["configMapKeyRef"], "ConfigMap")
        )
        if found is not None:
            env[item["name"]] = found
    return env


@dataclass
class LocalPod:
    """One pod's container as a local process: argv, environment, ports, probe."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ports: dict[str, int]  # port name -> local port (containerPort rewritten)
    folders: dict[str, Path]  # volume name -> local folder
    probes: dict[str, dict[str, Any]]  # readinessProbe, livenessProbe, startupProbe
    labels: dict[str, str]  # the pod template's: what a Service selects
    app: Path  # the image's working folder
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path | None = None

    @classmethod
    def of(
        cls,
        workload: Mapping[str, Any],
        documents: list[dict[str, Any]],
        secrets: Mapping[str, Mapping[str, str]],
        tmp: Path,
        app: Path,
    ) -> LocalPod:
        """The pod of a Job or Deployment (its one container), rewritten as the module says."""
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        [container] = spec["containers"]
        env = resolve_env(container, _config_maps(documents), secrets)
        folders = _volumes(spec, secrets, tmp / name)
        mounts = {m["mountPath"]: folders[m["name"]] for m in container.get("volumeMounts", [])}
        declared = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        local = {str(port): str(free_port()) for port in declared.values()}
        ports = {port_name: int(local[str(port)]) for port_name, port in declared.items()}
        args = _rewrite_args([*container.get("command", []), *container.get("args", [])], local)
        argv = [_moved(arg, mounts) for arg in args]
        env = {k: local.get(v, _moved(v, mounts)) for k, v in env.items()}
        if "/tmp" in mounts:
            env["TMPDIR"] = str(mounts["/tmp"])
        home = tmp / name / "home"  # the read-only root filesystem's HOME
        home.mkdir(parents=True)
        home.chmod(0o555)
        env["HOME"] = str(home)
        env["HOSTNAME"] = name
        env["PYTHONPATH"] = str(app)
        argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        probes = {key: value for key, value in container.items() if key.endswith("Probe")}
        return cls(name, argv, env, ports, folders, probes, labels, app)

    def probe_url(self, probe: str = "readinessProbe") -> str | None:
        """Where the kubelet sends the probe's GET; None for a pod without that probe."""
        if probe not in self.probes:
            return None
        get = self.probes[probe]["httpGet"]
        port = get["port"]
        local = self.ports[port] if isinstance(port, str) else port
        return f"http://127.0.0.1:{local}{get.get('path', '/')}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


def _volumes(
    spec: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]], tmp: Path
) -> dict[str, Path]:
    folders = {}
    for volume in spec.get("volumes", []):
        folder = tmp / "volumes" / volume["name"]
        folder.mkdir(parents=True)
        if "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]
            for item in volume["secret"].get("items", []):
                (folder / item["path"]).write_text(data[item["key"]])
        elif "emptyDir" not in volume:
            raise AssertionError(f"volume {volume['name']}: only emptyDir and secret are run here")
        folders[volume["name"]] = folder
    return folders


def _rewrite_args(args: list[str], local: Mapping[str, str]) -> list[str]:
    rewritten = list(args)
    for i in range(1, len(args)):
        option, value = args[i - 1], args[i]
        if option.startswith("--") and option.endswith("port") and value in local:
            rewritten[i] = local[value]
        elif option.startswith("--") and option.endswith("host") and value == "0.0.0.0":
            rewritten[i] = "127.0.0.1"
    return rewritten


def _moved(value: str, mounts: Mapping[str, Path]) -> str:
    for path, folder in mounts.items():
        if value == path or value.startswith(path.rstrip("/") + "/"):
            return str(folder) + value[len(path.rstrip("/")) :]
    return value


def start(pod: LocalPod, logs: Path) -> LocalPod:
    """Start the pod's process, its output in `logs/NAME.log`."""
    pod.log = logs / f"{pod.name}.log"
    with pod.log.open("wb") as out:
        pod.popen = subprocess.Popen(
            pod.argv,
            env=pod.env,
            cwd=pod.app,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return pod


def wait_completed(pod: LocalPod, timeout: float) -> int:
    """The exit code of a Job's pod (restartPolicy OnFailure: a failure is the test's)."""
    assert pod.popen is not None
    try:
        return pod.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        message = f"{pod.name} still running after {timeout} s:\n{pod.output()}"
        raise AssertionError(message) from None


def wait_ready(pods: Iterable[LocalPod], timeout: float) -> None:
    """Poll each pod's readiness probe (httpGet, 2xx/3xx) until it passes; a pod without one is
    ready while it runs (what Kubernetes assumes)."""
    deadline = time.monotonic() + timeout
    waiting = list(pods)
    while waiting:
        for pod in list(waiting):
            assert pod.popen is not None
            if pod.popen.poll() is not None:
                raise AssertionError(f"{pod.name} exited {pod.popen.returncode}:\n{pod.output()}")
            urls = [pod.probe_url(probe) for probe in ("startupProbe", "readinessProbe")]
            if all(url is None or passes(url) for url in urls):
                waiting.remove(pod)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(p.name for p in waiting)
            logs = "\n".join(p.output()[-3000:] for p in waiting)
            raise AssertionError(f"not ready after {timeout} s: {names}\n{logs}")
        time.sleep(0.3)


def passes(url: str) -> bool:
    """An httpGet probe's verdict: an answer of 2xx or 3xx."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 400
    except (urllib.error.URLError, OSError):
        return False


def stop(pods: Iterable[LocalPod], grace: float = 20) -> None:
    """SIGTERM each pod's process, SIGKILL after `grace` (terminationGracePeriodSeconds)."""
    started = [p.popen for p in pods if p.popen is not None and p.popen.poll() is None]
    for popen in started:
        popen.terminate()
    for popen in started:
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
