"""A pensioner's certification, canteen meals, venue passes and vouchers (claiming one with the
button, then a refusal in place), and a clerk's certification work list and transfer ledgers, in
Chromium over real HTTP; a screenshot and the axe check on each page."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import SCREENSHOTS, Site, axe_violations
from tests.integration.acquiring._kit import Kit
from tests.support.city_figures import seed_slice
from yikatong.acquiring import service as acquiring
from yikatong.api.auth import issue_token
from yikatong.canteens import service as canteens
from yikatong.certification import service as certification
from yikatong.core import clock
from yikatong.core.money import format_yuan
from yikatong.medical import service as medical
from yikatong.pensions import service as pensions
from yikatong.pensions.models import PensionRole
from yikatong.transit.bank import SandboxBank
from yikatong.venues import service as venues
from yikatong.vouchers import service as vouchers

pytestmark = pytest.mark.browser

DISTRICT = "370203"
CLERK = "clerk-more-e2e"


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"more-{name}.png"), full_page=True)


def _sign_in(page: Page, site: Site, subject: str, role: str, resident_id: int | None) -> None:
    page.context.clear_cookies()
    token = issue_token(site.node, subject, [role], resident_id=resident_id)
    page.context.add_cookies([{"name": "ykt_token", "value": token, "url": site.base_url}])


def test_a_pensioner_and_a_clerk_go_through_the_new_pages(page: Page, site: Site) -> None:
    node = site.node
    seeded = seed_slice(node, DISTRICT, tag="more-e2e")
    elder, card = seeded.pensioner, seeded.pensioner_card
    today = clock.today()
    kit = Kit(node)
    with node.transaction() as session:
        SandboxBank().deposit(session, card_no=card, amount=50_000, reference="more-e2e-dep")
        canteens.register_canteen(
            session, code="more-e2e-canteen", name="浮山长者食堂", district_code=DISTRICT,
            actor=CLERK,
        )  # fmt: skip
        canteens.fund_budget(
            session, DISTRICT, amount=500_000, reference="more-e2e-fund", actor=CLERK
        )
    kit.device("TILL-MORE-E2E", "more-e2e-canteen")
    with node.transaction() as session:
        till = acquiring.get_terminal(session, "TILL-MORE-E2E")
        meal = canteens.serve_meal(session, till, terminal_seq=1, price=1800, card_no=card)
        subsidy = meal.subsidy
    kit.merchant("more-e2e-venues", "venue", "浮山文旅")
    with node.transaction() as session:
        venues.add_venue(
            session, code="more-e2e-park", name="浮山森林公园", category="park",
            operator="more-e2e-venues",
        )  # fmt: skip
        venues.add_product(
            session, venue_code="more-e2e-park", code="more-e2e-pass", kind="annual_pass",
            name="公园年卡", price=8000, validity_days=365, entry_limit=5,
        )  # fmt: skip
        annual = venues.buy_pass(session, elder, "more-e2e-pass", idempotency_key="more-e2e-p")
        pass_ref = annual.reference
    kit.merchant("more-e2e-shop", "shop", "浮山家电")
    with node.transaction() as session:
        vouchers.create_campaign(
            session, code="more-e2e-vouchers", name="浮山家电消费券", starts_on=today,
            ends_on=today + dt.timedelta(days=5),
            types=[vouchers.TypeSpec(200_000, 30_000, 5)], merchant_codes=["more-e2e-shop"],
            budget=1_000_000, funding_reference="more-e2e-voucher-fund",
            release_time=dt.time(0, 0), valid_hours=24, redeem_from=dt.time(0, 0),
            redeem_until=dt.time(23, 59), actor="admin-more-e2e",
        )  # fmt: skip
        certification.run_certification(session, as_of=today, actor=CLERK, allow_illustrative=True)
    with node.transaction() as session:
        certification.record_channel_result(
            session, elder, channel="service_point", outcome="alive", day=today,
            reference="SP-MORE-E2E", actor=CLERK,
        )  # fmt: skip
        state = certification.state_of(session, elder)
        valid_until = state.valid_until
        case = pensions.open_transfer(
            session, seeded.worker, role=PensionRole.NEW_CITY, other_city_code="370600",
            actor=CLERK,
        )  # fmt: skip
        medical_case = medical.request_transfer(
            session, seeded.worker, old_city_code="370600", actor=CLERK
        )
        case_ref, medical_id = case.case_ref, medical_case.id

    _sign_in(page, site, "app-more-e2e-elder", "resident", elder)
    page.goto(f"{site.base_url}/me")
    nav = page.get_by_role("navigation", name="我的服务")
    nav.get_by_role("link", name="资格认证").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("资格认证")
    expect(page.get_by_test_id("valid-until")).to_have_text(str(valid_until))
    expect(page.get_by_test_id("certification-state")).to_contain_text("服务网点认证")
    _shot(page, "certification")
    assert axe_violations(page) == []

    nav.get_by_role("link", name="长者食堂").click()
    expect(page.get_by_test_id("meals")).to_contain_text("浮山长者食堂")
    expect(page.get_by_test_id("subsidy-total")).to_have_text(format_yuan(subsidy))
    _shot(page, "canteen")
    assert axe_violations(page) == []

    nav.get_by_role("link", name="文旅场馆").click()
    passes = page.get_by_test_id("passes")
    expect(passes).to_contain_text("浮山森林公园")
    expect(passes).to_contain_text("0 / 5")
    assert pass_ref is not None
    expect(passes).to_contain_text(pass_ref)
    _shot(page, "venues")
    assert axe_violations(page) == []

    nav.get_by_role("link", name="消费券").click()
    page.get_by_test_id("claim-more-e2e-vouchers-2000-300").click()
    expect(page.get_by_role("status")).to_contain_text("已领取消费券")
    expect(page.get_by_test_id("vouchers").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("vouchers")).to_contain_text("浮山家电消费券")
    page.get_by_test_id("claim-more-e2e-vouchers-2000-300").click()  # once a week: refused in place
    expect(page.get_by_test_id("claim-error")).to_contain_text("already claimed")
    expect(page.get_by_test_id("vouchers").locator("tbody tr")).to_have_count(1)
    _shot(page, "vouchers")
    assert axe_violations(page) == []

    _sign_in(page, site, "clerk-more-e2e", "clerk", None)
    page.goto(f"{site.base_url}/console")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="资格认证").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("资格认证")
    expect(page.get_by_test_id("rate-report")).to_contain_text(DISTRICT)
    expect(page.get_by_test_id("target")).to_contain_text("%")
    _shot(page, "console-certification")
    assert axe_violations(page) == []

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="转移接续").click()
    expect(page.locator(f"tr[data-case='{case_ref}']")).to_contain_text("参保缴费凭证")
    expect(page.locator(f"tr[data-transfer='{medical_id}']")).to_contain_text("370600")
    _shot(page, "console-transfers")
    assert axe_violations(page) == []
