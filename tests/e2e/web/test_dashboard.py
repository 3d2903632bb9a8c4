"""The staff dashboard in Chromium: known activity in a district of its own shows as exactly
those figures, the filters swap the figures in place (HTMX), and the page passes axe."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import inspect

from tests.e2e.web.conftest import Site, axe_violations
from tests.e2e.web.test_journeys import sign_in_as
from tests.support.city_figures import PENSION, seed_slice
from yikatong.core import clock
from yikatong.core.money import format_yuan

pytestmark = pytest.mark.browser

DISTRICT = "370299"  # no demo resident lives here: its figures are only the seeded ones


def test_the_dashboard_shows_the_seeded_figures(page: Page, site: Site) -> None:
    seeded = seed_slice(site.node, DISTRICT, tag="dash")
    value_date = seeded.notes["value_date"]
    assert isinstance(value_date, dt.date)
    until = max(clock.today(), value_date)
    sign_in_as(page, site, "clerk-demo")
    page.goto(f"{site.base_url}/console/dashboard?granularity=month&until={until.isoformat()}")
    expect(page.get_by_role("heading", level=1)).to_have_text("统计看板")
    expect(page.get_by_label("周期")).to_have_value("month")

    # choosing the district swaps the figures in place and keeps the filters in the address
    page.get_by_label("区市").select_option(DISTRICT)
    expect(page.get_by_test_id("scope")).to_contain_text(DISTRICT)
    expect(page).to_have_url(re.compile(f"district={DISTRICT}"))

    def total(key: str) -> str:
        return page.get_by_test_id(f"total-{key}").inner_text().strip()

    expect(page.get_by_test_id("total-essc_verifications")).to_have_text("3")
    assert total("certificate_prints") == "3"
    assert total("benefits_paid") == format_yuan(PENSION) == "3123.45"
    assert total("benefit_payments") == "1"
    assert total("medical_settlements") == "1"
    assert total("medical_fund") == format_yuan(seeded.medical_fund)
    assert total("rides") == "2"
    # canteens and certification come with their domains' migration: until then "no data"
    with site.node.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert total("canteen_meals") == ("0" if "canteen_meal" in tables else "暂无数据")
    assert total("certification_rate") == ("—" if "certification_state" in tables else "暂无数据")

    # each chart has its figures in a table beside it: this month's row carries them
    month = f"{clock.today():%Y-%m}"
    rides = page.get_by_test_id("table-rides")
    expect(rides.get_by_role("row", name=month)).to_contain_text("2")
    chart = page.locator("[data-series=rides] svg[role=img]")
    expect(chart.locator("title").first).to_have_text("乘车次数")
    assert axe_violations(page) == []


def test_a_bad_range_is_explained_in_place(page: Page, site: Site) -> None:
    sign_in_as(page, site, "clerk-demo-2")
    page.goto(f"{site.base_url}/console/dashboard")
    page.get_by_label("起始日期").fill("2030-01-01")
    page.get_by_label("起始日期").dispatch_event("change")
    expect(page.get_by_role("alert")).to_contain_text("is after until")
