"""What residents and staff do in the browser, end to end over HTTP in real Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.web.conftest import Site, axe_violations
from tests.support.tools import need
from yikatong.documents import service as documents
from yikatong.essc import service as essc
from yikatong.essc.tokens import TokenRejected

pytestmark = pytest.mark.browser


def sign_in_as(page: Page, site: Site, account: str) -> None:
    page.goto(f"{site.base_url}/login")
    page.get_by_role("button", name=re.compile(r"\s" + re.escape(account) + "$")).click()


def test_a_resident_reports_the_card_lost_and_the_qr_stops_verifying(
    page: Page, site: Site
) -> None:
    resident = site.report.accounts[0]
    sign_in_as(page, site, resident.app_account_id)
    expect(page).to_have_url(f"{site.base_url}/me")
    expect(page.get_by_test_id("card-no")).to_have_text(resident.card_no)
    expect(page.get_by_test_id("card-state")).to_contain_text("active")

    qr = page.get_by_test_id("qr")
    expect(qr).to_be_visible()
    shown_code = qr.get_attribute("data-code")
    assert shown_code and shown_code.startswith("YK1:")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="挂失", exact=True).click()
    expect(page.get_by_test_id("card-state")).to_contain_text("suspended")
    expect(page.get_by_role("status")).to_contain_text("已挂失")

    with site.node.transaction() as session, pytest.raises(TokenRejected) as refused:
        essc.verify_online(session, shown_code)
    assert refused.value.reason.value == "card-not-active"

    page.reload()
    expect(page.locator("#my-qr")).to_contain_text("suspended")


def test_a_clerk_finds_a_resident_and_unmasks_with_a_reason_the_auditor_sees_it(
    page: Page, site: Site
) -> None:
    resident = site.report.accounts[1]
    sign_in_as(page, site, "clerk-demo")
    expect(page).to_have_url(f"{site.base_url}/console")
    page.get_by_label("完整身份证号").fill(resident.name)
    page.get_by_role("button", name="查找", exact=True).click()
    page.get_by_role("link", name=resident.name).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(resident.id_masked)

    page.get_by_label("事由").fill("窗口业务核验 counter check")
    page.get_by_role("button", name="查看", exact=True).click()
    clear = page.get_by_test_id("clear")
    expect(clear).to_contain_text(resident.id_masked[:6])
    expect(clear).not_to_contain_text("*")

    page.get_by_role("button", name="退出").click()
    sign_in_as(page, site, "auditor-demo")
    page.goto(f"{site.base_url}/console/audit?actor=clerk-demo")
    expect(page.locator("tbody")).to_contain_text("窗口业务核验 counter check")


def test_a_refused_card_action_explains_itself(page: Page, site: Site) -> None:
    resident = site.report.accounts[2]
    sign_in_as(page, site, "clerk-demo-2")
    page.goto(f"{site.base_url}/console/residents/{resident.resident_id}")
    cards = page.locator("#cards")
    expect(cards).to_contain_text(resident.card_no)
    cards.get_by_role("button", name="临时挂失", exact=True).first.click()
    expect(cards.get_by_role("status")).to_contain_text(resident.card_no)
    cards.get_by_role("button", name="解挂", exact=True).first.click()
    expect(cards.locator(".state").first).to_contain_text("正常")


def test_the_home_page_shows_the_city(page: Page, site: Site) -> None:
    page.goto(site.base_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("青岛")
    expect(page.locator("[data-state=active] .figure")).not_to_have_text("0")


@pytest.mark.parametrize(
    ("account", "path"),
    [
        (None, "/"),
        (None, "/login"),
        ("resident", "/me"),
        ("clerk-demo", "/console"),
        ("clerk-demo", "/console/residents/1"),
        ("auditor-demo", "/console/audit"),
        ("kiosk-demo-01", "/kiosk"),
    ],
)
def test_pages_have_no_serious_accessibility_violations(
    page: Page, site: Site, account: str | None, path: str
) -> None:
    if account is not None:
        sign_in_as(
            page, site, site.report.accounts[3].app_account_id if account == "resident" else account
        )
    page.goto(site.base_url + path)
    page.wait_for_load_state("networkidle")
    assert axe_violations(page) == []


def test_a_kiosk_identifies_by_the_scanned_code_and_prints_a_certificate_whose_qr_verifies(
    page: Page, site: Site, tmp_path: Path
) -> None:
    pdftoppm, zbarimg = need("pdftoppm", "poppler-utils"), need("zbarimg", "zbar-tools")
    resident = site.report.accounts[4]
    with site.node.transaction() as session:
        code = essc.issue_qr(session, resident.resident_id, "L1").text
    sign_in_as(page, site, "kiosk-demo-01")
    expect(page).to_have_url(f"{site.base_url}/kiosk")
    # A USB scanner is a keyboard: it types the code into the focused field and presses Enter.
    page.get_by_label("二维码内容").press_sequentially(code)
    page.get_by_label("二维码内容").press("Enter")
    expect(page.locator("#who")).to_contain_text(resident.id_masked)

    with page.expect_popup() as popup:
        page.get_by_role("button", name="打印参保证明").click()
    popup.value.wait_for_load_state()
    assert popup.value.url.endswith("/kiosk/print/proof")
    # The printer's copy, fetched the same way (the popup shows it in Chromium's PDF viewer).
    ticket = page.locator("input[name=ticket]").first.get_attribute("value")
    pdf = page.request.post(f"{site.base_url}/kiosk/print/proof", form={"ticket": str(ticket)})
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "proof.pdf"
    path.write_bytes(pdf.body())
    subprocess.run([pdftoppm, "-png", "-r", "150", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    image = next(tmp_path.glob("page*.png"))
    scanned = subprocess.run(
        [zbarimg, "--raw", "-q", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    with site.node.transaction() as session:
        verdict = documents.verify_qr_text(session, scanned)
        assert verdict.registered
        assert documents.verify_pdf(session, path.read_bytes()).claims == verdict.claims

    page.get_by_label("二维码内容").fill(code)
    page.get_by_label("二维码内容").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("already used")
