"""A token provider for STREAMGRAPH_KAFKA_OAUTH_TOKEN_PROVIDER in the secured tests:
`secured_cluster_tokens:admin_token` gives the local broker's unsecured JWT of its admin."""

from __future__ import annotations

from streamgraph.broker.credentials import ADMIN_USER, unsecured_jwt


def admin_token() -> str:
    return unsecured_jwt(ADMIN_USER)
