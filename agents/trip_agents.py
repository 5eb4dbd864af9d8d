"""The guide's multi-agent trip orchestrator: a router agent, two sub-agents, a response agent.

The router reads the question, sends the event to the weather agent and the trip-planning
agent (one city at a time) and, when they have answered, to the response agent; each
sub-agent cycles back to the router. The agents are rules over the bundled data
(agents/trip_tools.py); with `llm_url` the response agent has an LLM write the final answer
from the facts the others gathered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agents.trip_tools import (
    forecast,
    known_cities,
    outlook,
    places_data,
    read_request,
    search_places,
)
from streamgraph.serving.providers import ModelProvider, get_provider

ROUTER_LIMIT = 8  # router visits per question: 3 cities with weather and a plan fit


def _state(body: Any, agent: str) -> dict[str, Any]:
    """A copy of the event's state with `agent` added to its route."""
    return {**body, "trace": [*body.get("trace", []), agent]}


class RouterAgent:
    """Reads the question once, then decides after every visit where the event goes next."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: Any) -> dict[str, Any]:
        if isinstance(body, bytes | str):  # a plain-text question
            body = {"question": body.decode() if isinstance(body, bytes) else body}
        if not isinstance(body, dict) or not str(body.get("question", "")).strip():
            raise ValueError('send a question: {"question": "Plan 2 days in Rome in May"}')
        state = _state(body, "router")
        if "request" not in state:
            request = read_request(str(body["question"]))
            state.update(request=request.to_dict(), weather={}, plans={})
        request = state["request"]
        needs_weather = request["wants_weather"] or (
            request["wants_plan"] and bool(request["days"] or request["month"])
        )
        for city in request["cities"]:
            if needs_weather and city not in state["weather"]:
                return {**state, "next": "weather", "city": city}
            if request["wants_plan"] and city not in state["plans"]:
                return {**state, "next": "planner", "city": city}
        return {**state, "next": "response", "city": None}

    def select_outlets(self, body: dict[str, Any]) -> list[str]:
        return [body["next"]]


class WeatherAgent:
    """Asks the weather tool about the router's city: per day, or the month's outlook."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        state = _state(body, "weather")
        city, request = state["city"], state["request"]
        if request["days"]:
            report: dict[str, Any] = {"days": [forecast(city, day) for day in request["days"]]}
        else:
            report = {"outlook": outlook(city, request["month"] or dt.date.today().month)}
        return {**state, "weather": {**state["weather"], city: report}}


class TripPlannerAgent:
    """Plans a morning and an afternoon per day with the search tool, to suit the weather."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, body: dict[str, Any]) -> dict[str, Any]:
        state = _state(body, "planner")
        city, request = state["city"], state["request"]
        report = state["weather"].get(city, {})
        forecasts = report.get("days") or [None] * request["num_days"]
        wet_month = report.get("outlook", {}).get("wet_days_percent", 0) >= 40
        used: set[str] = set()
        days = []
        for i, weather in enumerate(forecasts):
            if weather is not None:
                setting = "indoor" if weather["condition"] in ("rain", "snow") else "outdoor"
            else:  # no forecast: alternate, starting indoors in a wet month
                setting = ("indoor", "outdoor")[(i + (0 if wet_month else 1)) % 2]
            picks = [p for p in search_places(city, setting) if p["name"] not in used][:2]
            used.update(p["name"] for p in picks)
            days.append(
                {
                    "day": weather["date"] if weather else f"day {i + 1}",
                    "setting": setting,
                    "morning": picks[0],
                    "afternoon": picks[1],
                }
            )
        return {**state, "plans": {**state["plans"], city: days}}


class ResponseAgent:
    """Writes the answer from what the agents gathered (an LLM phrases it when configured)."""

    def __init__(
        self, context: Any = None, name: str | None = None, llm_url: str | None = None, **kw: Any
    ) -> None:
        self.context = context
        self.llm: ModelProvider | None = get_provider(llm_url) if llm_url else None

    async def do(self, body: dict[str, Any]) -> dict[str, Any]:
        state = _state(body, "response")
        facts = write_answer(state)
        answer = facts
        if self.llm is not None and state["request"]["cities"]:
            answer, _ = await self.llm.ainvoke(llm_messages(state["question"], facts))
        return {
            "question": state["question"],
            "answer": answer,
            "route": state["trace"],
            "weather": state["weather"],
            "plans": state["plans"],
        }


def llm_messages(question: str, facts: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "You are a friendly travel assistant. Answer the question in a few "
            "lines, using only the facts given; keep dates and temperatures exact.",
        },
        {"role": "user", "content": f"Question: {question}\n\nFacts:\n{facts}"},
    ]


def _weather(day: dict[str, Any]) -> str:
    return f"{day['condition']}, {day['high_c']}°C by day, {day['low_c']}°C at night"


def _day(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%a %d %b")


def write_answer(state: dict[str, Any]) -> str:
    """The answer as text, from the weather reports and plans in `state`."""
    request = state["request"]
    if not request["cities"]:
        return (
            f"I know the weather and the sights of {', '.join(known_cities())}. "
            "Which city are you going to?"
        )
    lines: list[str] = []
    for city in request["cities"]:
        lines.append(f"{city}, {places_data()[city]['country']}")
        report = state["weather"].get(city, {})
        forecasts = {day["date"]: day for day in report.get("days", [])}
        plan = state["plans"].get(city, [])
        if "outlook" in report:
            o = report["outlook"]
            lines.append(
                f"  {o['month']} is usually {o['high_c']}°C by day and {o['low_c']}°C at night, "
                f"wet on {o['wet_days_percent']}% of days"
            )
        planned = {day["day"] for day in plan}
        for date, weather in forecasts.items():
            if date not in planned:
                lines.append(f"  {_day(date)}: {_weather(weather)}")
        for i, day in enumerate(plan, 1):
            if day["day"] in forecasts:
                lines.append(f"  {_day(day['day'])}, {_weather(forecasts[day['day']])}:")
            else:
                lines.append(f"  Day {i}, {day['setting']}s:")
            for part in ("morning", "afternoon"):
                place = day[part]
                lines.append(f"    {part:<9} {place['name']} - {place['note']}")
        tips = packing_tips(report)
        if tips:
            lines.append(f"  Pack: {', '.join(tips)}.")
    return "\n".join(lines)


def packing_tips(report: dict[str, Any]) -> list[str]:
    days = report.get("days") or []
    o = report.get("outlook")
    highs = [d["high_c"] for d in days] + ([o["high_c"]] if o else [])
    lows = [d["low_c"] for d in days] + ([o["low_c"]] if o else [])
    tips = []
    if any(d["condition"] in ("rain", "snow") for d in days) or (o and o["wet_days_percent"] >= 35):
        tips.append("an umbrella")
    if lows and min(lows) <= 3:
        tips.append("a warm coat")
    if highs and max(highs) >= 27:
        tips.append("sunscreen")
    return tips


class TripErrorHandler:
    """The graph's error handler: a polite answer saying what went wrong and where."""

    def __init__(self, context: Any = None, name: str | None = None, **kw: Any) -> None:
        self.context = context

    def do(self, event: Any) -> dict[str, Any]:
        body = event.body if isinstance(event.body, dict) else {}
        error = str(event.error)
        if "Max iterations exceeded" in error:
            answer = (
                f"Sorry, that needs more than {ROUTER_LIMIT} rounds between my agents. "
                "Ask me about at most three cities at a time."
            )
        else:
            answer = f"Sorry, I could not answer that: {error.split(': ', 1)[-1]}"
        return {
            "question": body.get("question"),
            "answer": answer,
            "error": error,
            "step": event.origin_state,
            "route": body.get("trace", []),
        }

    full_event = True


__all__ = [
    "ROUTER_LIMIT",
    "ResponseAgent",
    "RouterAgent",
    "TripErrorHandler",
    "TripPlannerAgent",
    "WeatherAgent",
    "llm_messages",
    "write_answer",
]
