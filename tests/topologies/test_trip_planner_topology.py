"""The guide's multi-agent trip orchestrator: routes through its cycle, on Kafka via the gateway."""

from __future__ import annotations

from typing import Any

import pytest
from topology_gateway import gateway_client

from agents.trip_agents import ROUTER_LIMIT, llm_messages
from agents.trip_tools import forecast, places_data
from streamgraph.serving.providers import get_provider
from topologies.trip_planner import build_function


def _place_names(city: str) -> dict[str, str]:
    return {p["name"]: p["setting"] for p in places_data()[city]["places"]}


@pytest.mark.kafka
async def test_questions_route_to_weather_planning_both_or_the_limit(kafka_broker: Any) -> None:
    async with gateway_client(build_function(), kafka_broker) as client:

        async def ask(question: str) -> dict[str, Any]:
            resp = await client.post("/", json={"question": question})
            assert resp.status == 200, await resp.text()
            answer: dict[str, Any] = await resp.json()
            return answer

        weather = await ask("What's the weather in Oslo on 2025-01-10?")
        assert weather["route"] == ["router", "weather", "router", "response"]
        assert weather["weather"] == {"Oslo": {"days": [forecast("Oslo", "2025-01-10")]}}
        assert weather["plans"] == {}
        assert weather["answer"].startswith("Oslo, Norway")

        sights = await ask("What should I see in Rome? I have 3 days.")
        assert sights["route"] == ["router", "planner", "router", "response"]
        assert sights["weather"] == {}
        days = sights["plans"]["Rome"]
        picked = [d[part]["name"] for d in days for part in ("morning", "afternoon")]
        assert len(days) == 3 and len(set(picked)) == 6
        assert set(picked) <= set(_place_names("Rome"))

        trip = await ask("Plan a trip to Paris from 2025-10-10 to 2025-10-12. Weather?")
        assert trip["route"] == ["router", "weather", "router", "planner", "router", "response"]
        dates = ["2025-10-10", "2025-10-11", "2025-10-12"]
        assert trip["weather"]["Paris"]["days"] == [forecast("Paris", d) for d in dates]
        settings = _place_names("Paris")
        for day in trip["plans"]["Paris"]:  # the plan follows the forecast
            wet = forecast("Paris", day["day"])["condition"] in ("rain", "snow")
            assert settings[day["morning"]["name"]] == ("indoor" if wet else "outdoor")

        too_many = await ask("Plan trips to Lisbon, Paris, Rome and Oslo on 2025-05-01.")
        assert too_many["step"] == "router"
        assert "Max iterations exceeded in step 'router'" in too_many["error"]
        assert too_many["route"].count("router") == ROUTER_LIMIT
        assert {"weather", "planner"} <= set(too_many["route"])
        assert "at most three cities" in too_many["answer"]


def test_a_question_without_a_city_or_a_readable_date_gets_an_answer() -> None:
    server = build_function().to_mock_server()
    vague = server.test(body={"question": "Plan a weekend somewhere warm"})
    assert vague["route"] == ["router", "response"]
    assert all(city in vague["answer"] for city in places_data())
    backwards = server.test(body={"question": "Rome from 2025-10-12 to 2025-10-10"})
    assert backwards["step"] == "router"
    assert "ends (2025-10-10) before it starts (2025-10-12)" in backwards["answer"]
    empty = server.test(body={"nothing": "here"})
    assert "send a question" in empty["answer"]
    server.wait_for_completion()


def test_with_an_llm_the_response_agent_phrases_the_facts() -> None:
    question = "Plan 2 days in Kyoto in November"
    rules = build_function().to_mock_server()
    facts = rules.test(body={"question": question})["answer"]
    llm_url = "scripted://travel"
    with_llm = build_function(llm_url=llm_url).to_mock_server()
    answer = with_llm.test(body={"question": question})
    expected, _ = get_provider(llm_url).invoke(llm_messages(question, facts))
    assert answer["answer"] == expected != facts
    assert answer["route"][-1] == "response"
    rules.wait_for_completion()
    with_llm.wait_for_completion()
