"""Acceptance: HTTP status codes of step errors (mlrun tests/serving/test_errors.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import streamgraph as sg
from streamgraph import errors
from streamgraph.testing import serve


def _make_error_handler(error_class: type[Exception], message: str) -> Callable:
    """Factory function to create error handler functions"""

    def handler(event):
        raise error_class(message)

    handler.__name__ = f"raise_{error_class.__name__}"
    return handler


@pytest.mark.parametrize(
    "error_class,error_message,expected_status_code",
    [
        # streamgraph's HTTP errors in place of MLRun's, with the same status codes
        (errors.NotFoundError, "Resource not found", 404),
        (errors.BadRequestError, "Invalid request", 400),
        (errors.ForbiddenError, "Access denied", 403),
        (errors.ConflictError, "Resource conflict", 409),
        (errors.InternalServerError, "Internal server error", 500),
        (errors.MethodNotAllowedError, "Method not allowed", 405),
        (errors.UnprocessableEntityError, "Unprocessable entity", 422),
        # Non-MLRun exceptions (backwards compatibility: should return 400)
        (ValueError, "Some generic error", 400),
        (RuntimeError, "Runtime error occurred", 400),
    ],
    ids=[
        "404_not_found",
        "400_bad_request",
        "403_access_denied",
        "409_conflict",
        "500_internal_server_error",
        "405_method_not_allowed",
        "422_unprocessable_entity",
        "400_value_error_backwards_compat",
        "400_runtime_error_backwards_compat",
    ],
)
def test_error_status_codes(
    engine,
    error_class: type[Exception],
    error_message: str,
    expected_status_code: int,
) -> None:
    """Ported from mlrun tests/serving/test_errors.py::test_error_status_codes"""
    error_handler = _make_error_handler(error_class, error_message)

    fn = sg.new_function("test-error")
    graph = fn.set_topology("flow", engine="sync")
    graph.to(name="error_step", handler=error_handler).respond()

    server = serve(fn, engine=engine)
    try:
        resp = server.test("/", method="GET", body="test", silent=True)
        assert resp.status_code == expected_status_code, (
            f"Expected status code {expected_status_code} for {error_class.__name__}, "
            f"got {resp.status_code}"
        )
        # MLRun's error body is the text "Class: message"; ours is {"error": "Class: message"}
        assert error_class.__name__ in resp.body["error"], (
            f"Expected error class '{error_class.__name__}' in response body, got: {resp.body}"
        )
        assert error_message in resp.body["error"], (
            f"Expected error message '{error_message}' in response body, got: {resp.body}"
        )
    finally:
        server.wait_for_completion()
