"""The resident portal's medical, payment, ride and certificate pages and the staff dashboard over
the test client: who may see what, what they show, and refusals that change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.city_figures import Slice, seed_slice
from yikatong.api.auth import issue_token
from yikatong.core import clock
from yikatong.core.money import Fen
from yikatong.medical import service as medical
from yikatong.node import Node


@pytest.fixture
def city(node: Node, fixed_clock: clock.FixedClock) -> Slice:
    node.settings.demo = True
    return seed_slice(node, "370213", tag="web")


def _as(client: TestClient, node: Node, resident_id: int | None, *roles: str) -> None:
    token = issue_token(node, f"web-{resident_id}", list(roles), resident_id=resident_id)
    client.cookies.set("ykt_token", token)


def test_portal_pages_are_for_signed_in_residents(client: TestClient, node: Node) -> None:
    for path in ("/me/medical", "/me/payments", "/me/rides", "/me/certificates"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}"


def test_the_pages_show_my_records(client: TestClient, node: Node, city: Slice) -> None:
    _as(client, node, city.worker, "resident")
    medical_page = client.get("/me/medical").text
    assert "统筹基金支付" in medical_page and "2025-01-01" in medical_page
    rides = client.get("/me/rides").text
    assert rides.count("统计公交") == 2 and "20.00" in rides
    _as(client, node, city.pensioner, "resident")
    payments = client.get("/me/payments").text
    assert "3123.45" in payments and "****9876" in payments and "基本养老金" in payments
    english = client.get("/me/payments", headers={"Accept-Language": "en"}).text
    assert "Basic pension" in english and "Paid in total" in english


def test_paying_for_someone_who_is_not_a_relative_is_refused_and_nothing_moves(
    client: TestClient, node: Node, city: Slice
) -> None:
    with node.transaction() as session:
        medical.deposit_personal_account(
            session, city.pensioner, Fen(50_000), idempotency_key="web-pa-1", source="payroll"
        )
    _as(client, node, city.pensioner, "resident")
    stranger = city.worker + 1000
    refused = client.post(
        "/me/medical/family-payment",
        data={"relative_id": stranger, "year": 2025, "tier": "tier1", "idempotency_key": "k" * 16},
    )
    assert "not a registered relative" in refused.text and "500.00" in refused.text
    bad = client.post(
        "/me/medical/family-payment",
        data={
            "relative_id": city.worker,
            "year": 2025,
            "tier": "tier9",
            "idempotency_key": "k" * 16,
        },
    )
    assert "tier must be tier1 or tier2" in bad.text
    unkeyed = client.post(
        "/me/medical/family-payment", data={"relative_id": city.worker, "year": 2025}
    )
    assert unkeyed.status_code == 422
    with node.transaction() as session:
        assert medical.personal_account_balance(session, city.pensioner) == 50_000
        assert len(medical.contributions_of(session, city.worker)) == 1  # the seeded one only


def test_a_refused_payment_leaves_no_trace_and_a_paid_one_is_paid_once(
    client: TestClient, node: Node, city: Slice
) -> None:
    _as(client, node, city.worker, "resident")
    form = {
        "relative_id": city.pensioner,
        "year": 2025,
        "tier": "tier1",
        "idempotency_key": "fam-0001",
    }
    poor = client.post("/me/medical/family-payment", data=form)
    assert 'role="alert"' in poor.text  # no money in the personal account yet
    with node.transaction() as session:
        assert medical.contributions_of(session, city.pensioner) == []
        assert medical.enrolments_of(session, city.pensioner) == []
        medical.deposit_personal_account(
            session, city.worker, Fen(100_000), idempotency_key="web-pa-2", source="payroll"
        )
    for _ in range(2):
        paid = client.post("/me/medical/family-payment", data=form)
        assert 'role="status"' in paid.text and "统计甲" in paid.text
    with node.transaction() as session:
        [contribution] = medical.contributions_of(session, city.pensioner)
        assert contribution.payer_resident_id == city.worker
        assert (
            medical.personal_account_balance(session, city.worker) == 100_000 - contribution.amount
        )


def test_my_certificate_downloads_as_a_pdf_and_a_bad_type_is_refused(
    client: TestClient, node: Node, city: Slice
) -> None:
    _as(client, node, city.worker, "resident")
    pdf = client.post("/me/certificates/contributions", data={"since": "2025-01-01"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].startswith('attachment; filename="contributions-')
    assert client.get("/me/certificates").text.count("缴费明细") >= 3  # form, list of two
    assert client.post("/me/certificates/passport").status_code == 422
    late = client.post("/me/certificates/contributions", data={"until": "2099-01-01"})
    assert late.status_code == 422 and "after today" in late.text
    bad_date = client.post("/me/certificates/contributions", data={"since": "1.1.2025"})
    assert bad_date.status_code == 422


def test_the_dashboard_is_for_staff_and_swaps_its_figures(
    client: TestClient, node: Node, city: Slice
) -> None:
    _as(client, node, city.worker, "resident")
    assert client.get("/console/dashboard", follow_redirects=False).status_code == 303
    _as(client, node, None, "auditor")
    page = client.get("/console/dashboard?district=370213&since=2025-03-10&until=2025-03-10")
    assert page.status_code == 200 and "<svg" in page.text and "统计看板" in page.text
    assert 'data-testid="total-rides">2<' in page.text
    fragment = client.get(
        "/console/dashboard?granularity=month&district=370213", headers={"HX-Request": "true"}
    )
    assert (
        "<html" not in fragment.text
        and 'data-testid="total-essc_verifications">3<' in fragment.text
    )
    refused = client.get("/console/dashboard?since=2025-04-01&until=2025-03-01")
    assert refused.status_code == 422 and "is after until" in refused.text
