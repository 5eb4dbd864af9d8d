"""Kubernetes object names and labels from function, model and topic names."""

from __future__ import annotations

import hashlib
import re

__all__ = ["dns_name", "dns_subdomain", "labels"]

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
MAX_NAME = 63  # a DNS-1123 label: Service names, label values
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def dns_name(*parts: str) -> str:
    """`parts` joined with `-` as a DNS-1123 label (lower case, digits, `-`, at most 63
    characters); a name that had to be cut or changed ends in a hash of the original, so two
    names never collapse into one."""
    original = "-".join(parts)
    name = _NOT_DNS.sub("-", original.lower()).strip("-") or "x"
    if name == original and len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(original.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"


def dns_subdomain(name: str) -> str:
    """`name` itself when it is a DNS-1123 subdomain (dots allowed: most topic names), else
    `dns_name(name)`."""
    return name if _SUBDOMAIN.match(name) else dns_name(name)


def labels(
    instance: str, component: str, function: str, model: str | None = None
) -> dict[str, str]:
    """The labels of one process's objects (its pods' selector is the same set)."""
    found = {
        "app.kubernetes.io/name": "streamgraph",
        "app.kubernetes.io/instance": dns_name(instance),
        "app.kubernetes.io/component": component,
        "streamgraph.io/function": dns_name(function),
    }
    if model is not None:
        found["streamgraph.io/model"] = dns_name(model)
    return found
