"""Disbursement batches with maker–checker in the console and "办一件事" in the portal, end to
end over HTTP in real Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.web.conftest import Site, axe_violations
from tests.e2e.web.test_journeys import sign_in_as
from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.registry.models import Resident, ResidentStatus

pytestmark = pytest.mark.browser


def _programme_with_a_beneficiary(site: Site) -> str:
    with site.node.transaction() as session:
        programme = benefits.add_programme(
            session,
            code="pension-e2e",
            kind=ProgrammeKind.BASIC_PENSION,
            actor="admin-demo",
            allow_illustrative=True,
        )
        benefits.fund_programme(
            session, programme.id, amount=yuan(50_000), reference="CZ-E2E-1", actor="admin-demo"
        )
        resident = session.scalar(
            select(Resident)
            .where(
                Resident.bank_account_masked.is_not(None),
                Resident.status == ResidentStatus.ACTIVE,
            )
            .order_by(Resident.id)
            .limit(1)
        )
        assert resident is not None
        benefits.enrol_beneficiary(session, programme.id, resident.id, actor="admin-demo")
        return programme.code


def test_a_clerk_approves_a_batch_created_by_another_clerk_and_the_creator_is_refused(
    page: Page, site: Site
) -> None:
    code = _programme_with_a_beneficiary(site)
    month = f"{clock.today():%Y-%m}"
    sign_in_as(page, site, "clerk-demo")
    page.goto(f"{site.base_url}/console/batches")
    page.get_by_label("发放项目").select_option(label=f"{code} · 基本养老金")
    page.get_by_label("发放月份").fill(month)
    page.get_by_role("button", name="生成").click()
    expect(page).to_have_url(re.compile(r"/console/batches/\d+$"))
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "generated")
    expect(page.get_by_test_id("maker-notice")).to_contain_text("不能复核")
    batch_url = page.url

    approve = page.get_by_role("button", name="复核通过")
    expect(approve).to_be_disabled()  # aria-disabled: the maker is told why, next to it
    approve.click(force=True)  # and if the maker submits anyway, the server refuses
    expect(page.get_by_role("alert")).to_contain_text("another clerk must approve")
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "generated")
    assert axe_violations(page) == []

    page.get_by_role("button", name="退出").click()
    sign_in_as(page, site, "clerk-demo-2")
    page.goto(batch_url)
    expect(page.get_by_test_id("maker-notice")).to_have_count(0)
    page.get_by_role("button", name="复核通过").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "approved")
    expect(page.get_by_test_id("maker")).to_have_text("clerk-demo")
    expect(page.get_by_test_id("checker")).to_have_text("clerk-demo-2")

    with page.expect_download() as download:
        page.get_by_role("button", name="下载报盘文件").click()
    bank = download.value.path().read_text(encoding="utf-8")
    rows = [row for row in csv.reader(io.StringIO(bank)) if row[0] == "D"]
    assert len(rows) == 1
    answer = io.StringIO()
    writer = csv.writer(answer, lineterminator="\n")
    writer.writerow(benefits.RETURN_HEADER)
    writer.writerow([rows[0][1], rows[0][4], "paid", "E2E-BANK-1", ""])
    page.goto(batch_url)
    page.get_by_label("银行回盘文件").set_input_files(
        files=[{"name": "return.csv", "mimeType": "text/csv", "buffer": answer.getvalue().encode()}]
    )
    page.get_by_role("button", name="导入回盘").click()
    expect(page.get_by_role("status")).to_contain_text("已发放 1 笔")
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "closed")
    expect(page.get_by_test_id("balanced")).to_have_text("平衡")
    assert axe_violations(page) == []


def test_a_resident_starts_a_newborn_bundle_and_sees_its_one_status(page: Page, site: Site) -> None:
    parent = site.report.accounts[0]
    born = clock.today() - dt.timedelta(days=20)
    sign_in_as(page, site, parent.app_account_id)
    page.goto(f"{site.base_url}/me/bundles")
    assert axe_violations(page) == []
    page.get_by_label("新生儿姓名").fill("小宝")
    page.get_by_label("新生儿身份证号").fill(make_resident_id("370202", born, 618))
    page.get_by_label("医保缴费方式").select_option("app")
    page.get_by_label("缴费凭证号").fill("APP-E2E-0001")
    page.get_by_role("button", name="提交出生一件事").click()

    expect(page).to_have_url(re.compile(r"/me/bundles/\d+$"))
    expect(page.get_by_test_id("bundle-status")).to_have_attribute("data-status", "completed")
    tasks = page.get_by_test_id("bundle-tasks").locator("tbody tr")
    expect(tasks).to_have_count(3)
    for kind in ("registry_entry", "medical_enrolment", "card_application"):
        expect(page.locator(f"tr[data-task={kind}]")).to_have_attribute("data-state", "done")
    expect(page.locator("tr[data-task=medical_enrolment]")).to_contain_text("no waiting period")
    assert axe_violations(page) == []

    page.goto(f"{site.base_url}/me/bundles")
    expect(page.locator("main table").last).to_contain_text("已办结")


def test_the_staff_pages_of_bundles_and_dead_letters_are_accessible(page: Page, site: Site) -> None:
    sign_in_as(page, site, "clerk-demo")
    for path in ("/console/bundles", "/console/dead-letters", "/console/batches"):
        page.goto(site.base_url + path)
        page.wait_for_load_state("networkidle")
        assert axe_violations(page) == [], path
    page.goto(site.base_url + "/console/dead-letters")
    expect(page.locator("main")).to_contain_text("需要管理员角色")
