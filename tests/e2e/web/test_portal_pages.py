"""A resident's journey through the portal pages in Chromium: medical insurance (cover, bills line
by line, paying a parent's contribution from the personal account), rides and top-ups,
certificates as PDF, then the parent's pension payments, in Chinese and in English; axe on each."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import SCREENSHOTS, Site, axe_violations
from tests.support.city_figures import PENSION, seed_slice
from yikatong.api.auth import issue_token
from yikatong.core import clock
from yikatong.core.money import Fen, format_yuan
from yikatong.medical import service as medical

pytestmark = pytest.mark.browser

DISTRICT = "370298"


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"portal-{name}.png"), full_page=True)


def _sign_in_as_resident(page: Page, site: Site, resident_id: int, subject: str) -> None:
    token = issue_token(site.node, subject, ["resident"], resident_id=resident_id)
    page.context.add_cookies([{"name": "ykt_token", "value": token, "url": site.base_url}])


def test_a_resident_goes_through_medical_rides_certificates_and_payments(
    page: Page, site: Site
) -> None:
    seeded = seed_slice(site.node, DISTRICT, tag="portal")
    year = clock.today().year
    with site.node.transaction() as session:
        medical.deposit_personal_account(
            session, seeded.worker, Fen(100_000), idempotency_key="portal-pa", source="payroll"
        )
        due = medical.amount_due(session, seeded.pensioner, year, tier="tier1").individual
    _sign_in_as_resident(page, site, seeded.worker, "app-portal-worker")

    page.goto(f"{site.base_url}/me")
    page.get_by_role("navigation", name="我的服务").get_by_role("link", name="我的医保").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("我的医保")
    cover = page.get_by_test_id("enrolments").locator(f"tr[data-year='{year}']")
    expect(cover).to_contain_text(f"{year}-01-01")  # paid in last year's window: from 1 January
    bill = page.locator("[data-claim='S-portal-1']")
    expect(bill.locator("tr[data-line=fund]")).to_contain_text(format_yuan(seeded.medical_fund))
    expect(bill.locator("tr[data-line=fund]")).to_contain_text("统筹基金支付")
    assert axe_violations(page) == []

    # 家庭共济: pay the parent's contribution from my personal account
    expect(page.get_by_test_id("personal-balance")).to_have_text("1000.00")
    page.get_by_label("亲属", exact=True).select_option(str(seeded.pensioner))
    page.get_by_label("缴费年度").select_option(str(year))
    page.get_by_label("档次").select_option("tier1")
    page.get_by_role("button", name="确认缴费").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"已为统计甲缴纳{year}年医保费{format_yuan(due)}元"
    )
    expect(page.get_by_test_id("balance-after")).to_have_text(format_yuan(100_000 - due))
    # the same form sent again (a double click) answers the first payment and pays nothing more
    with page.expect_response("**/me/medical/family-payment") as again:
        page.get_by_role("button", name="确认缴费").click()
    assert again.value.ok
    expect(page.get_by_test_id("balance-after")).to_have_text(format_yuan(100_000 - due))
    _shot(page, "medical")
    with site.node.transaction() as session:
        paid = medical.contributions_of(session, seeded.pensioner)
        assert [(c.year, c.amount, c.payer_resident_id) for c in paid] == [
            (year, due, seeded.worker)
        ]

    page.get_by_role("link", name="乘车与充值").first.click()
    rides = page.get_by_test_id("rides")
    expect(rides.locator("tbody tr")).to_have_count(2)
    expect(rides).to_contain_text("统计公交")
    expect(page.get_by_test_id("top-ups")).to_contain_text("20.00")
    with site.node.transaction() as session:
        from yikatong.transit import service as transit

        purse = transit.transport_balance(session, seeded.worker_card)
    expect(page.get_by_test_id("purse-balance")).to_have_text(format_yuan(purse))
    _shot(page, "rides")
    assert axe_violations(page) == []

    page.get_by_role("link", name="我的证明").first.click()
    issued = page.get_by_test_id("issued").locator("tbody tr")
    expect(issued).to_have_count(2)  # the two the clerk printed
    with page.expect_download() as download:
        page.get_by_role("button", name="下载参保证明").click()
    assert download.value.suggested_filename.startswith("proof-")
    assert download.value.path().read_bytes()[:5] == b"%PDF-"
    page.reload()
    expect(issued).to_have_count(3)
    assert axe_violations(page) == []

    # in English, on the same page
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("My certificates")
    expect(page.get_by_role("button", name="Download proof of insurance")).to_be_visible()
    _shot(page, "certificates-en")
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # the parent sees the pension paid to the card's account
    page.context.clear_cookies()
    _sign_in_as_resident(page, site, seeded.pensioner, "app-portal-pensioner")
    page.goto(f"{site.base_url}/me/payments")
    expect(page.get_by_test_id("paid-total")).to_have_text(format_yuan(PENSION))
    expect(page.get_by_test_id("payments")).to_contain_text("已到账")
    expect(page.get_by_test_id("payments")).to_contain_text("****9876")
    assert axe_violations(page) == []
