"""Transit fares (票价) as a pure function of the fare policy and the rider's recent rides.

Order of the rules, each one step of the quote::

    base fare (bus: line or default; metro: distance band) → promotion (1分钱乘车) →
    card-category percentage → transfer discount → daily and monthly caps

No step can make a fare negative, and the caps are applied last to what the rider was already
charged on the same local day and month, so the sum charged never exceeds a cap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yikatong.core.errors import InvalidInput
from yikatong.core.policy import load_policy_file, packaged_policy_in_force

Mode = Literal["bus", "metro"]
_LOCAL = dt.timezone(dt.timedelta(hours=8))
CATEGORIES = ("ordinary", "senior_70", "senior_60", "disabled", "veteran", "student")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusLine(_Strict):
    line: str = Field(min_length=1, max_length=32)
    fare: int = Field(ge=0)


class BusFares(_Strict):
    default_fare: int = Field(ge=0)
    lines: list[BusLine]


class MetroBand(_Strict):
    up_to_km: float = Field(gt=0)
    fare: int = Field(ge=0)


class MetroFares(_Strict):
    bands: list[MetroBand] = Field(min_length=1)
    step_km: float = Field(gt=0)
    step_fare: int = Field(ge=0)
    lines: dict[str, dict[str, float]]

    @model_validator(mode="after")
    def _ascending(self) -> MetroFares:
        limits = [b.up_to_km for b in self.bands]
        if limits != sorted(set(limits)):
            raise ValueError("metro bands must have strictly ascending up_to_km")
        return self


class TransferRule(_Strict):
    window_minutes: int = Field(ge=0, le=24 * 60)
    discount: int = Field(ge=0)


class Caps(_Strict):
    daily: int = Field(ge=0)
    monthly: int = Field(ge=0)


class Promotion(_Strict):
    name: str
    modes: list[Mode] = Field(min_length=1)
    lines: list[str] = Field(default_factory=list, description="empty: every line of the modes")
    first_day: dt.date
    last_day: dt.date
    fare: int = Field(ge=0)


class TransitPolicy(_Strict):
    city: str
    city_code: str
    year: int
    valid_from: dt.date
    valid_until: dt.date
    sources: list[str]
    bus: BusFares
    metro: MetroFares
    transfer: TransferRule
    caps: Caps
    categories: dict[str, int]
    promotions: list[Promotion]

    @model_validator(mode="after")
    def _complete(self) -> TransitPolicy:
        missing = [c for c in CATEGORIES if c not in self.categories]
        if missing:
            raise ValueError(f"categories lack {', '.join(missing)}")
        if any(not 0 <= v <= 100 for v in self.categories.values()):
            raise ValueError("a category pays between 0 and 100 percent of the fare")
        return self


def load_transit_policy(path: Path, *, allow_illustrative: bool) -> TransitPolicy:
    return load_policy_file(path, TransitPolicy, allow_illustrative=allow_illustrative)


def packaged_transit_policy(
    city_code: str, on: dt.date, *, allow_illustrative: bool
) -> TransitPolicy:
    """The packaged fare policy of a city in force on a date (``<city>/transit-<year>.yaml``)."""
    return packaged_policy_in_force(
        "transit", TransitPolicy, city_code, on, allow_illustrative=allow_illustrative
    )


# --------------------------------------------------------------------------- the quote


@dataclass(frozen=True, slots=True)
class Ride:
    """A ride to price: the mode, the line, and for the metro the entry and exit stations."""

    mode: Mode
    line: str
    at: dt.datetime
    entry: str | None = None
    exit: str | None = None


@dataclass(frozen=True, slots=True)
class PriorRide:
    """A ride already taken: when, where, and what it was charged (or is owed)."""

    mode: str
    line: str
    at: dt.datetime
    charged: int


@dataclass(frozen=True, slots=True)
class FareQuote:
    full_fare: int
    fare: int
    steps: list[str] = field(default_factory=list)
    distance_km: float | None = None

    def as_details(self) -> dict[str, object]:
        return {
            "full_fare": self.full_fare,
            "fare": self.fare,
            "steps": list(self.steps),
            "distance_km": self.distance_km,
        }


def _local(at: dt.datetime) -> dt.datetime:
    return at.astimezone(_LOCAL)


def metro_distance(policy: TransitPolicy, line: str, entry: str, exit_: str) -> float:
    """Shortest track distance between two stations, changing lines at shared stations."""
    lines = policy.metro.lines
    if line not in lines:
        raise InvalidInput(f"metro line {line!r} is not in the fare policy", field="line")
    neighbours: dict[str, dict[str, float]] = {}
    for stations in lines.values():
        ordered = sorted(stations.items(), key=lambda item: item[1])
        for (a, km_a), (b, km_b) in itertools.pairwise(ordered):
            for x, y in ((a, b), (b, a)):
                edges = neighbours.setdefault(x, {})
                edges[y] = min(edges.get(y, math.inf), km_b - km_a)
        for name, _ in ordered:
            neighbours.setdefault(name, {})
    for name, where in ((entry, "entry"), (exit_, "exit")):
        if name not in neighbours:
            raise InvalidInput(f"station {name!r} is not in the fare policy", field=where)
    distance = {entry: 0.0}
    queue = [(0.0, entry)]
    while queue:
        km, station = heapq.heappop(queue)
        if station == exit_:
            return round(km, 3)
        if km > distance[station]:
            continue
        for other, step in neighbours[station].items():
            if km + step < distance.get(other, math.inf):
                distance[other] = km + step
                heapq.heappush(queue, (km + step, other))
    raise InvalidInput(f"no metro route from {entry} to {exit_} in the fare policy", field="exit")


def base_fare(policy: TransitPolicy, ride: Ride) -> tuple[int, float | None, str]:
    if ride.mode == "bus":
        for line in policy.bus.lines:
            if line.line == ride.line:
                return line.fare, None, f"bus line {ride.line}: {line.fare}"
        return policy.bus.default_fare, None, f"bus default fare: {policy.bus.default_fare}"
    if ride.entry is None or ride.exit is None:
        raise InvalidInput("a metro ride needs its entry and exit stations", field="exit")
    km = metro_distance(policy, ride.line, ride.entry, ride.exit)
    metro = policy.metro
    for band in metro.bands:
        if km <= band.up_to_km:
            return band.fare, km, f"metro {km} km ≤ {band.up_to_km} km: {band.fare}"
    last = metro.bands[-1]
    steps = math.ceil((km - last.up_to_km) / metro.step_km)
    fare = last.fare + steps * metro.step_fare
    return fare, km, f"metro {km} km: {last.fare} + {steps} × {metro.step_fare}"


def quote_fare(
    policy: TransitPolicy, ride: Ride, category: str, history: Sequence[PriorRide]
) -> FareQuote:
    """The fare in fen of ``ride`` for a card of ``category`` given the card's rides in time
    order (``history`` may hold later rides too; only those up to ``ride.at`` count)."""
    if category not in policy.categories:
        raise InvalidInput(f"unknown card category {category!r}", field="category")
    full, km, why = base_fare(policy, ride)
    steps = [why]
    fare = full
    day = _local(ride.at).date()
    for promo in policy.promotions:
        if (
            ride.mode in promo.modes
            and (not promo.lines or ride.line in promo.lines)
            and promo.first_day <= day <= promo.last_day
            and promo.fare < fare
        ):
            fare = promo.fare
            steps.append(f"promotion {promo.name}: {fare}")
    percent = policy.categories[category]
    if percent != 100:
        fare = fare * percent // 100
        steps.append(f"category {category} pays {percent}%: {fare}")
    # history is in time order: the rides up to this one end at ``end``.
    end = bisect.bisect_right(history, ride.at, key=lambda r: r.at)
    if end and fare > 0:
        last = history[end - 1]
        window = dt.timedelta(minutes=policy.transfer.window_minutes)
        if ride.at - last.at <= window and (last.mode, last.line) != (ride.mode, ride.line):
            discount = min(fare, policy.transfer.discount)
            if discount:
                fare -= discount
                steps.append(f"transfer within {policy.transfer.window_minutes} min: −{discount}")
    day_start = dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)
    month_start = day_start.replace(day=1)
    spent_day = spent_month = 0
    for index in range(end - 1, -1, -1):
        prior = history[index]
        if prior.at < month_start:
            break
        spent_month += prior.charged
        if prior.at >= day_start:
            spent_day += prior.charged
    room = max(0, min(policy.caps.daily - spent_day, policy.caps.monthly - spent_month))
    if fare > room:
        fare = room
        steps.append(
            f"capped (day {spent_day}/{policy.caps.daily}, month "
            f"{spent_month}/{policy.caps.monthly}): {fare}"
        )
    return FareQuote(full_fare=full, fare=fare, steps=steps, distance_km=km)
