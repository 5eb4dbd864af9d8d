"""The trip planner's tools over a bundled data file (agents/data/places.json), no network.

- `read_request(question)`: the cities, dates or month and what the user wants, by rules.
- `forecast(city, day)` / `outlook(city, month)`: the weather tool. A forecast is drawn
  deterministically from the city's climate for that month (the same day always gets the same
  weather); an outlook is the month's climate.
- `search_places(city, setting)`: the search tool over the bundled places.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).parent / "data" / "places.json"
MAX_TRIP_DAYS = 7

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
WEATHER_WORDS = re.compile(
    r"\b(weather|forecast|rain\w*|sun\w*|temperatures?|cold|warm|hot|snow\w*|umbrella|pack\w*|"
    r"degrees|wear)\b",
    re.IGNORECASE,
)
TRIP_WORDS = re.compile(
    r"\b(trip|plan\w*|itinerary|visit\w*|things to do|what to do|see|sightseeing|holidays?|"
    r"vacation|weekend|getaway|days? in|tour|explore)\b",
    re.IGNORECASE,
)


@cache
def places_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return data


def known_cities() -> list[str]:
    return sorted(places_data())


@dataclass
class TripRequest:
    """What a question asks for."""

    question: str
    cities: list[str]
    wants_weather: bool
    wants_plan: bool
    days: list[str] = field(default_factory=list)  # ISO dates
    month: int | None = None
    num_days: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "cities": self.cities,
            "wants_weather": self.wants_weather,
            "wants_plan": self.wants_plan,
            "days": self.days,
            "month": self.month,
            "num_days": self.num_days,
        }


def read_request(question: str) -> TripRequest:
    """Parse a question by rules. Bad dates are a ValueError with a clear message."""
    text = question.strip()
    lowered = text.lower()
    found = [(lowered.find(c.lower()), c) for c in known_cities() if c.lower() in lowered]
    cities = [c for _, c in sorted(found)]  # in the order the question names them
    days = _days(text)
    month = None
    if not days:
        month = next((n for name, n in MONTHS.items() if re.search(rf"\b{name}\b", lowered)), None)
    wants_weather = bool(WEATHER_WORDS.search(text))
    wants_plan = bool(TRIP_WORDS.search(text))
    if not wants_weather and not wants_plan:
        wants_plan = True  # "Lisbon in May?" reads as a trip question
    many = re.search(r"\b(\d{1,2})[ -]days?\b", lowered)
    num_days = len(days) or (int(many.group(1)) if many else 2)
    if not 1 <= num_days <= MAX_TRIP_DAYS:
        raise ValueError(f"a trip of {num_days} days: I plan 1 to {MAX_TRIP_DAYS} days")
    return TripRequest(text, cities, wants_weather, wants_plan, days, month, num_days)


def _days(text: str) -> list[str]:
    found = re.findall(r"\b(\d{4}-\d{2}-\d{2})\b", text)
    try:
        dates = [dt.date.fromisoformat(d) for d in found]
    except ValueError as exc:
        raise ValueError(f"cannot read the date in {text!r}: {exc}") from None
    if not dates:
        return []
    first, last = dates[0], dates[-1] if len(dates) > 1 else dates[0]
    many = re.search(r"\bfor (\d{1,2}) days?\b", text.lower())
    if len(dates) == 1 and many:
        last = first + dt.timedelta(days=int(many.group(1)) - 1)
    if last < first:
        raise ValueError(f"the trip ends ({last}) before it starts ({first})")
    if (last - first).days >= MAX_TRIP_DAYS:
        raise ValueError(f"{first} to {last} is over {MAX_TRIP_DAYS} days; ask for a shorter trip")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _draw(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts` (the same city and day, the same weather)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def forecast(city: str, day: str) -> dict[str, Any]:
    """The weather tool: `{"date", "condition", "high_c", "low_c"}` for one city and day."""
    date = dt.date.fromisoformat(day)
    high, low, rain_share = places_data()[city]["climate"][date.month - 1]
    shift = round(_draw(city, day, "temperature") * 6 - 3)
    high, low = high + shift, low + shift
    if _draw(city, day, "rain") < rain_share:
        condition = "snow" if high <= 1 else "rain"
    else:
        condition = "cloudy" if _draw(city, day, "cloud") < 0.35 else "sunny"
    return {"date": day, "condition": condition, "high_c": high, "low_c": low}


def outlook(city: str, month: int) -> dict[str, Any]:
    """The weather tool for a month: its usual temperatures and share of wet days."""
    high, low, rain_share = places_data()[city]["climate"][month - 1]
    return {
        "month": calendar.month_name[month],
        "high_c": high,
        "low_c": low,
        "wet_days_percent": round(rain_share * 100),
    }


def search_places(city: str, setting: str | None = None) -> list[dict[str, Any]]:
    """The search tool: the city's places, those of one `setting` (indoor/outdoor) first."""
    places: list[dict[str, Any]] = places_data()[city]["places"]
    if setting is None:
        return list(places)
    return [p for p in places if p["setting"] == setting] + [
        p for p in places if p["setting"] != setting
    ]


__all__ = [
    "MAX_TRIP_DAYS",
    "TripRequest",
    "forecast",
    "known_cities",
    "outlook",
    "places_data",
    "read_request",
    "search_places",
]
