"""The guide's cyclic example: a loop that ends, one that hits the limit, the error handler."""

from __future__ import annotations

from typing import Any

import pytest
from topology_gateway import gateway_client

from streamgraph.testing import serve
from topologies.cyclic import build_function


def test_loop_ends_when_the_draft_is_good(engine: str) -> None:
    answer = serve(build_function(), engine=engine).test(body={"topic": "kafka", "min_points": 4})
    assert answer == {
        "topic": "kafka",
        "answer": [f"point {i} about kafka" for i in range(1, 5)],
        "score": 1.0,
    }


def test_loop_hits_the_generator_limit_and_the_handler_answers(engine: str) -> None:
    answer = serve(build_function(), engine=engine).test(
        body={"topic": "kafka", "min_points": 31}, event_id="ev-31"
    )
    assert answer == {
        "error": "RuntimeError: Max iterations exceeded in step 'generator' for event ev-31",
        "step": "generator",
    }
    # 30 visits are allowed: a draft that needs exactly 30 points still completes
    done = serve(build_function(), engine=engine).test(body={"topic": "k", "min_points": 30})
    assert done["score"] == 1.0 and len(done["answer"]) == 30


def test_bad_request_goes_to_the_graph_error_handler(engine: str) -> None:
    answer = serve(build_function(), engine=engine).test(body={"min_points": 2})
    assert answer == {"error": "ValueError: the request needs a 'topic'", "step": "preprocess"}


@pytest.mark.kafka
async def test_through_the_gateway_a_loop_ends_and_one_hits_the_limit(kafka_broker: Any) -> None:
    async with gateway_client(build_function(), kafka_broker) as client:
        done = await client.post("/", json={"topic": "gateways", "min_points": 3})
        assert done.status == 200
        assert await done.json() == {
            "topic": "gateways",
            "answer": [f"point {i} about gateways" for i in range(1, 4)],
            "score": 1.0,
        }
        # 31 points need a 31st generator visit: the limit's RuntimeError goes to the handler
        limited = await client.post("/", json={"topic": "gateways", "min_points": 31})
        assert limited.status == 200
        answer = await limited.json()
        assert answer["step"] == "generator"
        assert answer["error"].startswith(
            "RuntimeError: Max iterations exceeded in step 'generator' for event "
        )
        bad = await client.post("/", json={"min_points": 2})
        assert await bad.json() == {
            "error": "ValueError: the request needs a 'topic'",
            "step": "preprocess",
        }
