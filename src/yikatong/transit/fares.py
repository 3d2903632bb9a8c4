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
import functools
import heapq
import itertools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
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


def _at(ride: PriorRide) -> dt.datetime:
    return ride.at


def local_day(at: dt.datetime) -> dt.date:
    """The local (UTC+8) calendar day of an instant: the day the daily cap counts."""
    return at.astimezone(_LOCAL).date()


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)


@functools.lru_cache(maxsize=128)
def _day_starts(day: dt.date) -> tuple[float, float]:
    """The local midnights that begin ``day`` and its month, in POSIX seconds (asked once per
    ride priced)."""
    return _midnight(day).timestamp(), _midnight(day.replace(day=1)).timestamp()


class RideHistory:
    """A card's earlier rides as the fare rules need them.

    On the *detailed* days every ride is kept (the transfer discount needs the ride just before,
    the daily cap the rides earlier that day); for the other days of the month only the total
    charged. Pricing a ride then costs the same whether the card rode five or five hundred
    times this month. A history built from a plain list of rides details every day.
    """

    def __init__(
        self,
        rides: Iterable[PriorRide] = (),
        *,
        detailed_days: Collection[dt.date] | None = None,
        day_totals: Mapping[dt.date, int] | None = None,
        in_time_order: bool = False,
    ) -> None:
        self._detailed: frozenset[dt.date] | None = None
        if detailed_days is not None:
            # A frozen set is shared as it is (one upload's histories all detail its days).
            self._detailed = frozenset(detailed_days)
        # The detailed days' rides in time order, with their times and charges alongside.
        self._rides: list[PriorRide] = []
        # POSIX seconds: bisected as floats, not as datetimes with an offset each (exact to well
        # under a microsecond).
        self._times: list[float] = []
        self._charges: list[int] = []
        self._totals: dict[dt.date, int] = {}  # the other days
        for day, total in (day_totals or {}).items():
            if not self.covers(day):
                self._totals[day] = total
        # Per detailed day: the totals of the other days of its month before it (asked once
        # per ride priced, the same for every ride of the day).
        self._month_before: dict[dt.date, int] = {}
        for ride in rides if in_time_order else sorted(rides, key=_at):
            day = local_day(ride.at)
            if not self.covers(day):
                raise ValueError(f"a ride on {day} given for a day kept only as a total")
            self._rides.append(ride)
            self._times.append(ride.at.timestamp())
            self._charges.append(ride.charged)

    def covers(self, day: dt.date) -> bool:
        """Whether every ride of ``day`` is known one by one (a ride can be priced on it)."""
        return self._detailed is None or day in self._detailed

    def add(self, ride: PriorRide, day: dt.date | None = None) -> None:
        """Remember a ride just priced, in its place in time (``day``: its local day, when the
        caller knows it already)."""
        self._require(local_day(ride.at) if day is None else day)
        times, at = self._times, ride.at.timestamp()
        if not times or at >= times[-1]:
            self._rides.append(ride)
            times.append(at)
            self._charges.append(ride.charged)
        else:
            index = bisect.bisect_right(times, at)
            self._rides.insert(index, ride)
            times.insert(index, at)
            self._charges.insert(index, ride.charged)

    def last_up_to(self, at: dt.datetime) -> PriorRide | None:
        """The latest ride at or before ``at`` among the detailed days."""
        return self.up_to(at)[0]

    def spent_up_to(self, at: dt.datetime) -> tuple[int, int]:
        """What the rides up to ``at`` were charged on its local day and in its month."""
        _, spent_day, spent_month = self.up_to(at)
        return spent_day, spent_month

    def up_to(
        self, at: dt.datetime, day: dt.date | None = None
    ) -> tuple[PriorRide | None, int, int]:
        """``last_up_to`` and ``spent_up_to`` at once (``day``: the local day of ``at``, when
        the caller knows it already)."""
        if day is None:
            day = local_day(at)
        self._require(day)
        times, charges = self._times, self._charges
        end = bisect.bisect_right(times, at.timestamp())
        # In time order a day's rides, and the month's before it, lie next to each other.
        midnight, first_of_month = _day_starts(day)
        today = bisect.bisect_left(times, midnight, 0, end)
        month = bisect.bisect_left(times, first_of_month, 0, today)
        spent_day = sum(charges[today:end])
        totals = self._month_before.get(day)
        if totals is None:
            totals = self._month_before[day] = sum(
                total
                for d, total in self._totals.items()
                if d < day and d.month == day.month and d.year == day.year
            )
        earlier_days = sum(charges[month:today]) + totals
        return self._rides[end - 1] if end else None, spent_day, spent_day + earlier_days

    def _require(self, day: dt.date) -> None:
        if not self.covers(day):
            raise ValueError(f"the ride history holds only a total for {day}; read that day first")


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


@dataclass(frozen=True, slots=True)
class ListFare:
    """A ride's fare before the rider's earlier rides count: the base fare, a promotion and the
    card category's percentage (the same for every ride of a line, a day and a category)."""

    full_fare: int
    fare: int
    steps: tuple[str, ...]
    distance_km: float | None


def list_fare(policy: TransitPolicy, ride: Ride, category: str) -> ListFare:
    """The first steps of ``quote_fare``: base fare → promotion → card-category percentage."""
    if category not in policy.categories:
        raise InvalidInput(f"unknown card category {category!r}", field="category")
    full, km, why = base_fare(policy, ride)
    steps = [why]
    fare = full
    day = local_day(ride.at)
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
    return ListFare(full_fare=full, fare=fare, steps=tuple(steps), distance_km=km)


def quote_fare(
    policy: TransitPolicy,
    ride: Ride,
    category: str,
    history: RideHistory | Sequence[PriorRide],
) -> FareQuote:
    """The fare in fen of ``ride`` for a card of ``category`` given the card's earlier rides
    (``history`` may hold later rides too; only those up to ``ride.at`` count)."""
    return discount_and_cap(policy, ride, list_fare(policy, ride, category), history)


def discount_and_cap(
    policy: TransitPolicy,
    ride: Ride,
    listed: ListFare,
    history: RideHistory | Sequence[PriorRide],
    *,
    day: dt.date | None = None,
) -> FareQuote:
    """The last steps of ``quote_fare``, on the ride's ``list_fare``: the transfer discount and
    the daily and monthly caps, from the rides up to ``ride.at`` (``day``: its local day, when
    the caller knows it already)."""
    fare = listed.fare
    steps = list(listed.steps)
    rides = history if isinstance(history, RideHistory) else RideHistory(history)
    last, spent_day, spent_month = rides.up_to(ride.at, day)
    if last is not None and fare > 0:
        window = dt.timedelta(minutes=policy.transfer.window_minutes)
        if ride.at - last.at <= window and (last.mode, last.line) != (ride.mode, ride.line):
            discount = min(fare, policy.transfer.discount)
            if discount:
                fare -= discount
                steps.append(f"transfer within {policy.transfer.window_minutes} min: −{discount}")
    room = max(0, min(policy.caps.daily - spent_day, policy.caps.monthly - spent_month))
    if fare > room:
        fare = room
        steps.append(
            f"capped (day {spent_day}/{policy.caps.daily}, month "
            f"{spent_month}/{policy.caps.monthly}): {fare}"
        )
    return FareQuote(
        full_fare=listed.full_fare, fare=fare, steps=steps, distance_km=listed.distance_km
    )
