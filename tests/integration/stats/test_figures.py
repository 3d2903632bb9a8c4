"""The city's figures read back exactly what the services did, by day, month and district, on
SQLite and PostgreSQL; a domain without tables is "no data", never an error."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import AuthHeaders, Ykt
from tests.support.city_figures import PENSION, Slice, seed_slice
from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.node import Node
from yikatong.stats import service
from yikatong.stats.service import Granularity

DISTRICT, OTHER = "370213", "370214"


@pytest.fixture
def city(node: Node, fixed_clock: clock.FixedClock) -> tuple[Slice, Slice]:
    node.settings.demo = True  # packaged fares and benefit schedules are illustrative
    here = seed_slice(node, DISTRICT, tag="a")
    fixed_clock.advance(days=1)
    there = seed_slice(node, OTHER, tag="b")
    return here, there


def _figures(node: Node, **query: object) -> service.Figures:
    with node.transaction() as session:
        return service.figures(session, service.Period.of(**query))  # type: ignore[arg-type]


def test_daily_figures_of_a_district_are_what_happened_there(
    node: Node, city: tuple[Slice, Slice]
) -> None:
    here, _ = city
    figures = _figures(
        node, since=dt.date(2025, 3, 9), until=dt.date(2025, 3, 11), district=DISTRICT
    )
    assert figures.periods == ("2025-03-09", "2025-03-10", "2025-03-11")
    totals = {s.key: s.total for s in figures.series}
    assert totals["essc_verifications"] == 3
    assert totals["certificate_prints"] == 3
    assert totals["medical_settlements"] == 1
    assert totals["medical_fund"] == here.medical_fund > 0
    assert totals["rides"] == 2
    assert figures.get("rides").points == (0, 2, 0)
    assert figures.get("essc_verifications").points == (0, 3, 0)
    # the pension's value date is the programme's pay day of March
    value_date = here.notes["value_date"]
    assert isinstance(value_date, dt.date)
    paid = figures.get("benefits_paid")
    assert paid.total == (PENSION if value_date <= dt.date(2025, 3, 11) else 0)


def test_monthly_figures_of_the_whole_city_add_up_the_districts(
    node: Node, city: tuple[Slice, Slice]
) -> None:
    here, there = city
    figures = _figures(
        node, since=dt.date(2025, 1, 1), until=dt.date(2025, 3, 31), granularity="month"
    )
    assert figures.periods == ("2025-01", "2025-02", "2025-03")
    assert figures.get("essc_verifications").points == (0, 0, 6)
    assert figures.get("certificate_prints").total == 6
    assert figures.get("benefits_paid").total == 2 * PENSION
    assert figures.get("benefit_payments").total == 2
    assert figures.get("medical_settlements").total == 2
    assert figures.get("medical_fund").total == here.medical_fund + there.medical_fund
    assert figures.get("rides").total == 4
    assert dict(figures.get("rides").by_district) == {DISTRICT: 2, OTHER: 2}
    assert {DISTRICT, OTHER} <= set(figures.districts)


def test_a_reversed_ride_is_no_ride(node: Node, city: tuple[Slice, Slice]) -> None:
    from yikatong.acquiring import service as acquiring

    here, _ = city
    with node.transaction() as session:
        taps = acquiring.taps_of_resident(session, here.worker)
        first_tap, _merchant = taps[0]
        acquiring.reverse_tap(session, first_tap.id, reason="double tap")
    figures = _figures(node, since=dt.date(2025, 3, 10), until=dt.date(2025, 3, 10))
    assert figures.get("rides").total == 1


def test_a_domain_without_tables_is_no_data_and_the_rest_stands(node: Node) -> None:
    with node.engine.begin() as connection:
        connection.execute(text("DROP TABLE canteen_meal"))
    figures = _figures(node, since=dt.date(2025, 3, 1), until=dt.date(2025, 3, 10))
    meals = figures.get("canteen_meals")
    assert (meals.available, meals.total) == (False, None)
    assert figures.get("rides").available and figures.get("rides").total == 0
    # nothing evaluated: a certification rate is unknown, not 0 %
    assert figures.get("certification_rate").total is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": dt.date(2025, 3, 2), "until": dt.date(2025, 3, 1)}, "since"),
        ({"since": dt.date(2023, 1, 1), "until": dt.date(2025, 3, 1)}, "since"),
        ({"granularity": "week"}, "granularity"),
        ({"district": "QD"}, "district"),
        ({"until": dt.date(1, 1, 1)}, "until"),
        ({"since": dt.date(9999, 12, 31), "until": dt.date(9999, 12, 31)}, "until"),
        (
            {"since": dt.date(1, 1, 1), "until": dt.date(2025, 1, 1), "granularity": "month"},
            "since",
        ),
    ],
)
def test_bad_periods_are_refused_naming_the_field(query: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.Period.of(**query)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_month_range_defaults_to_twelve_months(fixed_clock: clock.FixedClock) -> None:
    period = service.Period.of(granularity=Granularity.MONTH)
    assert (period.since, period.until) == (dt.date(2024, 4, 1), dt.date(2025, 3, 10))
    assert len(period.keys()) == 12


def test_the_api_gives_the_same_figures_to_staff_only(
    client: TestClient, auth: AuthHeaders, city: tuple[Slice, Slice]
) -> None:
    url = "/api/v1/stats?since=2025-03-01&until=2025-03-31&granularity=month&district=" + DISTRICT
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth("resident", resident_id=city[0].worker)).status_code == 403
    body = client.get(url, headers=auth("auditor")).json()
    series = {s["key"]: s for s in body["series"]}
    assert series["rides"]["points"] == [2] and series["rides"]["unit"] == "count"
    assert series["essc_verifications"]["total"] == 3
    assert series["medical_fund"]["total"] == city[0].medical_fund
    refused = client.get("/api/v1/stats?granularity=year", headers=auth("clerk"))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_the_cli_prints_the_figures(ykt: Ykt, city: tuple[Slice, Slice]) -> None:
    result = ykt(
        "stats", "show", "--since", "2025-03-10", "--until", "2025-03-11", "--district", DISTRICT
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ 2025-03-10"))
    cells = [cell.strip() for cell in row.strip("│┃ ").split("│")]
    assert cells[0] == "2025-03-10"
    assert cells[1] == "3"  # e-SSC verifications, the first figure
    refused = ykt("stats", "show", "--by", "week")
    assert refused.exit_code != 0 and "granularity" in refused.output
