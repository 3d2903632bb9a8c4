"""Resident, hospital and staff endpoints end to end; bad input is a 422 and changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders
from tests.integration.medical._world import relate, resident, top_up_card
from yikatong.api.auth import issue_token
from yikatong.core.money import Fen
from yikatong.medical import service
from yikatong.medical.models import ClaimRecord
from yikatong.node import Node
from yikatong.registry.models import RelationType

ITEMS: list[dict[str, Any]] = [
    {"class": "A", "quantity": 1, "unit_price": "3000"},
    {"class": "B", "quantity": 2, "unit_price": "500.00"},
    {"class": "C", "quantity": 1, "unit_price": "200"},
]


def _hospital(node: Node, code: str = "QD-H3") -> dict[str, str]:
    token = issue_token(node, f"his-{code}", ["terminal"], extra={"institution": code})
    return {"Authorization": f"Bearer {token}"}


def _setup(demo_node: Node) -> tuple[int, int, int]:
    with demo_node.transaction() as session:
        me = resident(session, dt.date(1960, 3, 3))
        child = resident(session, dt.date(1990, 4, 4))
        stranger = resident(session, dt.date(1970, 1, 1))
        relate(session, me, child, RelationType.CHILD)
        top_up_card(session, me, Fen(100000))
        service.deposit_personal_account(
            session, me, Fen(100000), idempotency_key="pa-me-1", source="payroll"
        )
    return me, child, stranger


def test_resident_pays_for_self_and_a_relative_and_reads_both(
    demo_node: Node, demo_client: TestClient, auth: AuthHeaders
) -> None:
    me, child, stranger = _setup(demo_node)
    mine = auth("resident", resident_id=me)
    paid = demo_client.post(
        "/api/v1/medical/me/contributions",
        json={"year": 2025, "tier": "tier1", "idempotency_key": "me-2025-01"},
        headers=mine,
    )
    assert paid.status_code == 201, paid.text
    body = paid.json()
    assert body["contribution"]["amount"] == "482.00"
    assert body["contribution"]["channel"] == "card"
    # fixed clock 2025-03-10: after the window → 3 months
    assert body["enrolment"]["covered_from"] == "2025-06-10"
    assert any("fixed waiting period" in line for line in body["enrolment"]["explanation"])
    for_child = demo_client.post(
        "/api/v1/medical/me/contributions",
        json={
            "year": 2025,
            "tier": "tier2",
            "resident_id": child,
            "idempotency_key": "kid-2025-01",
        },
        headers=mine,
    )
    assert for_child.status_code == 201, for_child.text
    assert for_child.json()["contribution"]["payer_resident_id"] == me
    assert for_child.json()["contribution"]["channel"] == "family"
    seen = demo_client.get(
        f"/api/v1/medical/me/contributions?resident_id={child}", headers=mine
    ).json()
    assert seen["contributions"][0]["amount"] == "415.00"
    hidden = demo_client.get(
        f"/api/v1/medical/me/contributions?resident_id={stranger}", headers=mine
    )
    assert hidden.status_code == 403
    refused = demo_client.post(
        "/api/v1/medical/me/contributions",
        json={
            "year": 2025,
            "tier": "tier1",
            "resident_id": stranger,
            "idempotency_key": "st-2025-01",
        },
        headers=mine,
    )
    assert refused.status_code == 403


def test_hospital_settles_reverses_and_the_resident_reads_the_explanation(
    demo_node: Node, demo_client: TestClient, auth: AuthHeaders
) -> None:
    me, _, _ = _setup(demo_node)
    clerk = auth("clerk")
    created = demo_client.post(
        "/api/v1/medical/institutions",
        json={"code": "QD-H3", "name": "青岛市立医院", "level": 3, "designated": True,
              "province_direct": True},
        headers=clerk,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    recorded = demo_client.post(
        "/api/v1/medical/contributions",
        json={"resident_id": me, "year": 2025, "tier": "tier1", "channel": "bank",
              "external_ref": "ICBC-1", "paid_on": "2024-12-20", "idempotency_key": "ext-0001"},
        headers=clerk,
    )  # fmt: skip
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["enrolment"]["covered_from"] == "2025-01-01"
    hospital = _hospital(demo_node)
    claim = {"resident_id": me, "claim_no": "V-100", "items": ITEMS}
    settled = demo_client.post("/api/v1/medical/claims", json=claim, headers=hospital)
    assert settled.status_code == 201, settled.text
    payers = settled.json()["payers"]
    assert payers["total"] == "4200.00"
    assert payers["personal_account"] != "0.00"
    twice = demo_client.post("/api/v1/medical/claims", json=claim, headers=hospital)
    assert twice.status_code == 409
    mine = demo_client.get("/api/v1/medical/me/claims", headers=auth("resident", resident_id=me))
    assert [line["code"] for line in mine.json()[0]["lines"]][:2] == ["total", "class_c"]
    reversed_ = demo_client.post(
        "/api/v1/medical/claims/V-100/reverse", json={"reason": "wrong bill"}, headers=hospital
    )
    assert reversed_.status_code == 200
    assert reversed_.json()["status"] == "reversed"
    again = demo_client.post("/api/v1/medical/claims", json=claim, headers=hospital)
    assert again.status_code == 201
    assert again.json()["attempt"] == 2
    other = demo_client.get("/api/v1/medical/claims/V-100", headers=_hospital(demo_node, "QD-X"))
    assert other.status_code == 422  # an unknown institution code
    unbound = demo_client.get("/api/v1/medical/claims/V-100", headers=auth("terminal"))
    assert unbound.status_code == 403


def test_bad_claims_are_422_and_change_nothing(
    demo_node: Node, demo_client: TestClient, auth: AuthHeaders
) -> None:
    me, _, _ = _setup(demo_node)
    with demo_node.transaction() as session:
        service.register_institution(
            session, code="QD-H3", name="市立医院", level=3, designated=True, province_direct=True
        )
        service.pay_contribution(
            session, me, 2025, channel="bank", tier="tier1", external_ref="R",
            paid_on=dt.date(2024, 12, 1), idempotency_key="bad-0001", actor="test",
        )  # fmt: skip
    hospital = _hospital(demo_node)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"items": [{"class": "D", "quantity": 1, "unit_price": "1"}]}, "class"),
        ({"items": [{"class": "A", "quantity": 1, "unit_price": "-1"}]}, "unit_price"),
        ({"service_date": "2023-06-01"}, "service_date"),
    ]
    for change, field in cases:
        body = {"resident_id": me, "claim_no": "B-1", "items": ITEMS, **change}
        response = demo_client.post("/api/v1/medical/claims", json=body, headers=hospital)
        assert response.status_code == 422, response.text
        assert field in response.text
        assert response.headers["content-type"] == "application/problem+json"
    unknown = demo_client.post(
        "/api/v1/medical/claims",
        json={"resident_id": me, "claim_no": "B-1", "items": ITEMS},
        headers=_hospital(demo_node, "NOWHERE"),
    )
    assert unknown.status_code == 422
    assert "institution" in unknown.text
    wrong_year = demo_client.post(
        "/api/v1/medical/me/contributions",
        json={"year": 2031, "tier": "tier1", "idempotency_key": "yr-00001"},
        headers=auth("resident", resident_id=me),
    )
    assert wrong_year.status_code == 422
    with demo_node.transaction() as session:
        assert session.scalar(select(func.count(ClaimRecord.id))) == 0


def test_resident_files_cancels_and_renews_offsite_care(
    demo_node: Node, demo_client: TestClient, auth: AuthHeaders
) -> None:
    me, _, _ = _setup(demo_node)
    mine = auth("resident", resident_id=me)
    filed = demo_client.post(
        "/api/v1/medical/me/filings",
        json={"kind": "temporary", "destination_city_code": "310000", "starts_on": "2025-03-10"},
        headers=mine,
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["ends_on"] == "2025-09-09"
    renewed = demo_client.post(
        f"/api/v1/medical/me/filings/{filed.json()['id']}/renew", json={}, headers=mine
    )
    assert renewed.status_code == 201
    assert renewed.json()["starts_on"] == "2025-09-10"
    cancelled = demo_client.post(
        f"/api/v1/medical/me/filings/{renewed.json()['id']}/cancel", headers=mine
    )
    assert cancelled.json()["status"] == "cancelled"
    too_short = demo_client.post(
        "/api/v1/medical/me/filings",
        json={"kind": "temporary", "destination_city_code": "310000", "starts_on": "2025-03-10",
              "ends_on": "2025-04-10"},
        headers=mine,
    )  # fmt: skip
    assert too_short.status_code == 422
    assert len(demo_client.get("/api/v1/medical/me/filings", headers=mine).json()) == 2
    other = auth("resident", resident_id=me + 2)
    foreign = demo_client.post(
        f"/api/v1/medical/me/filings/{filed.json()['id']}/cancel", headers=other
    )
    assert foreign.status_code == 404
