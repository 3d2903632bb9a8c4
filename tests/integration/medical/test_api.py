"""Staff API: read a policy, compute a what-if; bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders

WHAT_IF: dict[str, Any] = {
    "city": "qingdao",
    "year": 2025,
    "level": 2,
    "items": [
        {"class": "B", "quantity": 3, "unit_price": "120.50"},
        {"class": "A", "quantity": 1, "unit_price": "800"},
    ],
}


def test_clerk_reads_the_2024_policy_with_seed_figures(
    demo_client: TestClient, auth: AuthHeaders
) -> None:
    response = demo_client.get("/api/v1/medical/policies/qingdao/2024", headers=auth("clerk"))
    assert response.status_code == 200
    body = response.json()
    assert body["policy"]["contributions"]["individual"]["tier1"] == "462.00"
    assert body["policy"]["contributions"]["subsidy"]["tier2"] == "770.00"
    assert "settlement.annual_cap" in body["illustrative"]


def test_policy_needs_a_staff_token(demo_client: TestClient, auth: AuthHeaders) -> None:
    assert demo_client.get("/api/v1/medical/policies/qingdao/2024").status_code == 401
    response = demo_client.get("/api/v1/medical/policies/qingdao/2024", headers=auth("terminal"))
    assert response.status_code == 403


def test_missing_year_is_404(demo_client: TestClient, auth: AuthHeaders) -> None:
    response = demo_client.get("/api/v1/medical/policies/qingdao/2023", headers=auth("clerk"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "qingdao 2025" in response.json()["detail"]


def test_illustrative_policy_is_refused_outside_the_demo(
    client: TestClient, auth: AuthHeaders
) -> None:
    response = client.get("/api/v1/medical/policies/qingdao/2025", headers=auth("clerk"))
    assert response.status_code == 422
    assert "settlement.annual_cap" in response.json()["illustrative"]


def test_what_if_splits_the_bill_line_by_line(demo_client: TestClient, auth: AuthHeaders) -> None:
    response = demo_client.post("/api/v1/medical/what-if", json=WHAT_IF, headers=auth("clerk"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["payers"] == {
        "total": "1161.50",
        "fund": "420.28",
        "critical_illness": "0.00",
        "personal_account": "0.00",
        "family_account": "0.00",
        "cash": "741.22",
    }
    lines = {line["code"]: line for line in body["lines"]}
    assert lines["deductible"]["amount"] == "600.00"
    assert lines["deductible"]["label_zh"] == "起付线自付"


def test_what_if_with_spending_so_far_skips_the_paid_deductible(
    demo_client: TestClient, auth: AuthHeaders
) -> None:
    body = {**WHAT_IF, "spent_ytd": "600"}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 200
    assert response.json()["payers"]["fund"] == "900.28"  # 80 % of 1125.35


def _error_fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


def test_unknown_item_class_is_422(demo_client: TestClient, auth: AuthHeaders) -> None:
    body = {**WHAT_IF, "items": [{"class": "D", "quantity": 1, "unit_price": "1"}]}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 422
    assert _error_fields(response) == ["items.0.class"]


def test_negative_price_is_422(demo_client: TestClient, auth: AuthHeaders) -> None:
    body = {**WHAT_IF, "items": [{"class": "A", "quantity": 1, "unit_price": "-1.00"}]}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 422
    assert _error_fields(response) == ["items.0.unit_price"]


def test_price_with_three_decimals_is_422(demo_client: TestClient, auth: AuthHeaders) -> None:
    body = {**WHAT_IF, "items": [{"class": "A", "quantity": 1, "unit_price": "1.005"}]}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 422


def test_year_without_a_policy_is_422(demo_client: TestClient, auth: AuthHeaders) -> None:
    body = {**WHAT_IF, "year": 2023}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 422
    assert _error_fields(response) == ["year"]


def test_unknown_level_is_422(demo_client: TestClient, auth: AuthHeaders) -> None:
    body = {**WHAT_IF, "level": 4}
    response = demo_client.post("/api/v1/medical/what-if", json=body, headers=auth("clerk"))
    assert response.status_code == 422
    assert _error_fields(response) == ["level"]
