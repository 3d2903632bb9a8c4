"""The fare rules of the packaged Qingdao 2025 transit policy, and their invariants."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.core.errors import InvalidInput, PolicyError
from yikatong.transit import fares

CST = dt.timezone(dt.timedelta(hours=8))
POLICY = fares.packaged_transit_policy("370200", dt.date(2025, 3, 10), allow_illustrative=True)
MORNING = dt.datetime(2025, 3, 10, 8, 0, tzinfo=CST)
POLICY_APRIL = fares.packaged_transit_policy("370200", dt.date(2025, 4, 1), allow_illustrative=True)


def bus(line: str, at: dt.datetime = MORNING) -> fares.Ride:
    return fares.Ride("bus", line, at)


def metro(entry: str, exit_: str, at: dt.datetime = MORNING, line: str = "2") -> fares.Ride:
    return fares.Ride("metro", line, at, entry, exit_)


def test_the_packaged_policy_is_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError, match="illustrative"):
        fares.packaged_transit_policy("370200", dt.date(2025, 3, 10), allow_illustrative=False)


def test_no_policy_for_another_city_or_year() -> None:
    with pytest.raises(PolicyError):
        fares.packaged_transit_policy("110000", dt.date(2025, 3, 10), allow_illustrative=True)
    with pytest.raises(PolicyError):
        fares.packaged_transit_policy("370200", dt.date(2019, 3, 10), allow_illustrative=True)


def test_bus_fares_are_flat_per_line_with_a_default() -> None:
    assert fares.quote_fare(POLICY, bus("1"), "ordinary", []).fare == 100
    assert fares.quote_fare(POLICY, bus("321"), "ordinary", []).fare == 300
    assert fares.quote_fare(POLICY, bus("999"), "ordinary", []).fare == POLICY.bus.default_fare


def test_metro_fares_follow_the_distance_table() -> None:
    assert fares.quote_fare(POLICY, metro("zhiquan-road", "taidong"), "ordinary", []).fare == 200
    long = fares.quote_fare(POLICY, metro("zhiquan-road", "miaoling-road"), "ordinary", [])
    assert (long.distance_km, long.fare) == (9.6, 300)
    far = fares.quote_fare(POLICY, metro("miaoling-road", "aoshan-bay", line="11"), "ordinary", [])
    assert (far.distance_km, far.fare) == (58.4, 600)  # 50 km band 5 yuan + one 20 km step


def test_a_trip_across_lines_is_measured_through_the_interchange() -> None:
    quote = fares.quote_fare(POLICY, metro("zhiquan-road", "qingdao-north"), "ordinary", [])
    assert quote.distance_km == 14.5  # 2.3 km to 五四广场 on line 2, then 12.2 km on line 3


def test_unknown_stations_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as error:
        fares.quote_fare(POLICY, metro("zhiquan-road", "mars"), "ordinary", [])
    assert error.value.field == "exit"


def test_seniors_70_ride_free_and_60_to_69_pay_half() -> None:
    assert fares.quote_fare(POLICY, bus("321"), "senior_70", []).fare == 0
    assert fares.quote_fare(POLICY, bus("321"), "senior_60", []).fare == 150


def test_a_transfer_within_the_window_is_discounted() -> None:
    earlier = [fares.PriorRide("bus", "26", MORNING - dt.timedelta(minutes=40), 200)]
    ride = metro("zhiquan-road", "licun")
    assert fares.quote_fare(POLICY, ride, "ordinary", earlier).fare == 300 - 100
    late = [fares.PriorRide("bus", "26", MORNING - dt.timedelta(minutes=61), 200)]
    assert fares.quote_fare(POLICY, ride, "ordinary", late).fare == 300
    same_line = [fares.PriorRide("bus", "26", MORNING - dt.timedelta(minutes=10), 200)]
    assert fares.quote_fare(POLICY, bus("26"), "ordinary", same_line).fare == 200


def test_one_fen_promotion_on_its_line_and_dates_only() -> None:
    promo_day = dt.datetime(2025, 4, 25, 9, 0, tzinfo=CST)
    ride = metro("miaoling-road", "laoshan-jiagou", at=promo_day, line="11")
    assert fares.quote_fare(POLICY, ride, "ordinary", []).fare == 1
    other_line = metro("zhiquan-road", "licun", at=promo_day)
    assert fares.quote_fare(POLICY, other_line, "ordinary", []).fare == 300
    after = metro("miaoling-road", "laoshan-jiagou", at=promo_day + dt.timedelta(days=6), line="11")
    assert fares.quote_fare(POLICY, after, "ordinary", []).fare == 400


def test_the_daily_cap_limits_what_is_charged() -> None:
    spent = [
        fares.PriorRide("bus", "321", MORNING - dt.timedelta(hours=2, minutes=10 * i), 300)
        for i in reversed(range(4))
    ]
    quote = fares.quote_fare(POLICY, bus("321"), "ordinary", spent)
    assert quote.fare == POLICY.caps.daily - 1200 == 300
    spent.append(fares.PriorRide("bus", "321", MORNING - dt.timedelta(hours=1), 300))
    assert fares.quote_fare(POLICY, bus("321"), "ordinary", spent).fare == 0


_LINES = st.sampled_from(["1", "2", "26", "321", "999"])
_STATIONS = st.sampled_from(
    [
        ("2", "zhiquan-road"),
        ("2", "taidong"),
        ("2", "licun"),
        ("3", "qingdao-north"),
        ("3", "qingdao-station"),
        ("11", "aoshan-bay"),
        ("11", "miaoling-road"),
    ]
)
_CATEGORY = st.sampled_from(list(fares.CATEGORIES))


@st.composite
def _rides(draw: st.DrawFn) -> list[fares.Ride]:
    count = draw(st.integers(min_value=1, max_value=40))
    at = dt.datetime(2025, 4, 20, 6, 0, tzinfo=CST)
    rides = []
    for _ in range(count):
        at += dt.timedelta(minutes=draw(st.integers(min_value=1, max_value=60 * 30)))
        if draw(st.booleans()):
            rides.append(bus(draw(_LINES), at))
        else:
            (line, entry), (_, exit_) = draw(_STATIONS), draw(_STATIONS)
            rides.append(fares.Ride("metro", line, at, entry, exit_))
    return rides


@settings(max_examples=150, deadline=None)
@given(rides=_rides(), category=_CATEGORY)
def test_fares_are_never_negative_never_above_the_full_fare_and_caps_hold(
    rides: list[fares.Ride], category: str
) -> None:
    history: list[fares.PriorRide] = []
    for ride in rides:
        quote = fares.quote_fare(POLICY, ride, category, history)
        assert 0 <= quote.fare <= quote.full_fare
        history.append(fares.PriorRide(ride.mode, ride.line, ride.at, quote.fare))
    by_day: dict[dt.date, int] = {}
    by_month: dict[tuple[int, int], int] = {}
    for prior in history:
        local = prior.at.astimezone(CST)
        by_day[local.date()] = by_day.get(local.date(), 0) + prior.charged
        key = (local.year, local.month)
        by_month[key] = by_month.get(key, 0) + prior.charged
    assert max(by_day.values()) <= POLICY.caps.daily
    assert max(by_month.values()) <= POLICY.caps.monthly


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=30 * 24 * 60 - 1),
            st.sampled_from(["1", "2", "26", "321"]),
            st.integers(min_value=0, max_value=400),
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=0, max_value=24 * 60 - 1),
)
def test_a_history_summarised_by_day_prices_like_the_full_list(
    earlier: list[tuple[int, str, int]], day_of_month: int, minute: int
) -> None:
    """Uploads read only the priced day and the day before ride by ride, other days as totals:
    every quote must equal the one priced from every ride one by one."""
    start = dt.datetime(2025, 4, 1, tzinfo=CST)
    rides = [
        fares.PriorRide("bus", line, start + dt.timedelta(minutes=at), charged)
        for at, line, charged in earlier
    ]
    at = start + dt.timedelta(days=day_of_month - 1, minutes=minute)
    day = at.date()
    detailed = {day, day - dt.timedelta(days=1)}
    totals: dict[dt.date, int] = {}
    for ride in rides:
        if ride.at.date() not in detailed:
            totals[ride.at.date()] = totals.get(ride.at.date(), 0) + ride.charged
    summarised = fares.RideHistory(
        [r for r in rides if r.at.date() in detailed], detailed_days=detailed, day_totals=totals
    )
    for line in ("1", "321"):
        assert fares.quote_fare(POLICY_APRIL, bus(line, at), "ordinary", summarised) == (
            fares.quote_fare(POLICY_APRIL, bus(line, at), "ordinary", rides)
        )


def test_a_history_refuses_to_price_a_day_it_holds_only_as_a_total() -> None:
    day = MORNING.date()
    history = fares.RideHistory(detailed_days={day}, day_totals={day - dt.timedelta(days=3): 500})
    with pytest.raises(ValueError, match="only a total"):
        fares.quote_fare(POLICY, bus("1", MORNING + dt.timedelta(days=1)), "ordinary", history)
