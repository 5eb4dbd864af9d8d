"""The V2 (Open Inference Protocol) path grammar, shared by routers and model servers.

`/v2` server metadata, `/v2/health/{live,ready}`, `/v2/models/` the model list, and
`/v2/models/<model>[/versions/<ver>][/<operation>]`. A version is addressed as the route key
`"<model>:<ver>"`, as MLRun does. Parsing is `str.split` plus a small cache of parsed paths, so
the request path does no regex work and no allocation for paths it has seen.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import BadRequestError, MethodNotAllowedError, NotFoundError

MODELS_PREFIX = "/v2/models"
HEALTH_PREFIX = "/v2/health"

# what a path addresses
ROOT = "root"  # "/": the body picks the model and operation
SERVER = "server"  # GET /v2: server metadata
LIVE = "live"  # GET /v2/health/live
READY = "ready"  # GET /v2/health/ready
LIST = "list"  # GET /v2/models/
MODEL = "model"  # /v2/models/<model>[/versions/<ver>][/<op>]

_CACHE_LIMIT = 4096
_cache: dict[str, Target] = {}


class Target(NamedTuple):
    """What a request path addresses: a kind, and for models the route key and operation."""

    kind: str
    model: str = ""
    op: str = ""


_ROOT = Target(ROOT)


def parse_path(path: str) -> Target:
    """The target of `path`; unknown paths raise `NotFoundError` naming the grammar."""
    found = _cache.get(path)
    if found is not None:
        return found
    target = _parse(path)
    if len(_cache) < _CACHE_LIMIT:  # bounded: model names in paths come from clients
        _cache[path] = target
    return target


def _parse(path: str) -> Target:
    clean = path.partition("?")[0].strip("/")
    if not clean:
        return _ROOT
    parts = clean.split("/")
    if parts[0] != "v2":
        raise NotFoundError(
            f"illegal path {path}, must start with {MODELS_PREFIX} "
            f"(or be {HEALTH_PREFIX}/live, {HEALTH_PREFIX}/ready, /v2)"
        )
    if len(parts) == 1:
        return Target(SERVER)
    section, rest = parts[1], parts[2:]
    if section == "health":
        if len(rest) == 1 and rest[0] in (LIVE, READY):
            return Target(rest[0])
        raise NotFoundError(
            f"illegal path {path}, use {HEALTH_PREFIX}/live or {HEALTH_PREFIX}/ready"
        )
    if section != "models":
        raise NotFoundError(f"illegal path {path}, must start with {MODELS_PREFIX}")
    if not rest:
        return Target(LIST)
    model, rest = rest[0], rest[1:]
    if rest and rest[0] == "versions":
        if len(rest) < 2 or not rest[1]:
            raise NotFoundError(f"illegal path {path}: /versions/ needs a version")
        model, rest = f"{model}:{rest[1]}", rest[2:]
    if len(rest) > 1:
        raise NotFoundError(
            f"illegal path {path}, expected {MODELS_PREFIX}/<model>[/versions/<ver>][/<operation>]"
        )
    return Target(MODEL, model, rest[0] if rest else "")


def body_target(body: Any, default_model: str) -> Target:
    """At `/` the body picks the route: `{"model": "m3:v2", "operation": "explain", ...}`."""
    if isinstance(body, dict):
        model = body.get("model") or default_model
        op = body.get("operation") or ""
        if not isinstance(model, str) or not isinstance(op, str):
            raise BadRequestError("model and operation must be strings")
        return Target(MODEL, model, op)
    return Target(MODEL, default_model, "")


def require(method: str, allowed: str, what: str) -> None:
    """405 unless `method` is `allowed` (HEAD counts as GET)."""
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise MethodNotAllowedError(f"{what} accepts {allowed} only, got {method}")


def base_name(key: str) -> tuple[str, str]:
    """(model name, version) of a route key: `"m3:v2"` -> `("m3", "v2")`."""
    name, _, version = key.partition(":")
    return name, version
