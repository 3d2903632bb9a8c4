"""The ledger endpoints: admins write, auditors read, yuan in and fen out, problem+json refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from yikatong.ledger import service
from yikatong.node import Node


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def opened(client: TestClient, auth) -> None:
    for code, kind in (
        ("bank:icbc", "bank"),
        ("card:1:fin", "card_financial"),
        ("m:1", "merchant_settlement"),
    ):
        response = client.post(
            "/api/v1/ledger/accounts", json={"code": code, "kind": kind}, headers=auth("admin")
        )
        assert response.status_code == 201, response.text


def _transfer(client: TestClient, auth, **body: Any) -> Any:
    payload = {
        "idempotency_key": "k1",
        "debit_account": "bank:icbc",
        "credit_account": "card:1:fin",
    }
    payload.update(body)
    return client.post("/api/v1/ledger/transfers", json=payload, headers=auth("admin"))


def test_an_admin_posts_yuan_and_reads_fen(client: TestClient, auth, opened: None) -> None:
    response = _transfer(client, auth, amount="12.34")
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 1234
    card = client.get("/api/v1/ledger/accounts/card:1:fin", headers=auth("auditor")).json()
    assert card["balance"] == 1234
    assert card["available"] == 1234


def test_a_replayed_key_returns_the_same_transfer(client: TestClient, auth, opened: None) -> None:
    first = _transfer(client, auth, amount="1.00").json()
    again = _transfer(client, auth, amount="1.00").json()
    assert again["id"] == first["id"]
    body = _problem(_transfer(client, auth, amount="2.00"), 409)
    assert "different content" in body["detail"]


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.234", "abc"])
def test_bad_amounts_are_refused_and_change_nothing(
    client: TestClient, auth, node: Node, opened: None, amount: str
) -> None:
    body = _problem(_transfer(client, auth, amount=amount), 422)
    assert body["errors"][0]["field"] == "amount"
    with node.transaction() as session:
        assert service.trial_balance(session).debits_posted == 0


def test_overdraft_is_a_409_naming_the_account(client: TestClient, auth, opened: None) -> None:
    body = _problem(
        _transfer(client, auth, debit_account="card:1:fin", credit_account="m:1", amount="5"), 409
    )
    assert body["type"].endswith("/insufficient-funds")
    assert body["account"] == "card:1:fin"
    assert body["available"] == 0


def test_an_auditor_cannot_post(client: TestClient, auth, opened: None) -> None:
    response = client.post(
        "/api/v1/ledger/transfers",
        json={
            "idempotency_key": "k",
            "debit_account": "bank:icbc",
            "credit_account": "m:1",
            "amount": "1",
        },
        headers=auth("auditor"),
    )
    _problem(response, 403)


def test_a_clerk_cannot_read_the_ledger(client: TestClient, auth) -> None:
    _problem(client.get("/api/v1/ledger/trial-balance", headers=auth("clerk")), 403)


def test_hold_then_partial_post_over_http(client: TestClient, auth, opened: None) -> None:
    _transfer(client, auth, amount="10")
    hold = _transfer(
        client,
        auth,
        idempotency_key="h",
        debit_account="card:1:fin",
        credit_account="m:1",
        amount="6",
        pending=True,
        timeout_seconds=300,
    ).json()
    assert hold["kind"] == "pending"
    posted = client.post(
        f"/api/v1/ledger/transfers/{hold['id']}/post",
        json={"idempotency_key": "p", "amount": "4.50"},
        headers=auth("admin"),
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["amount"] == 450
    void = client.post(
        f"/api/v1/ledger/transfers/{hold['id']}/void",
        json={"idempotency_key": "v"},
        headers=auth("admin"),
    )
    _problem(void, 409)
    card = client.get("/api/v1/ledger/accounts/card:1:fin", headers=auth("admin")).json()
    assert (card["balance"], card["available"]) == (550, 550)


def test_reverse_statement_balance_at_and_trial_balance(
    client: TestClient, auth, opened: None
) -> None:
    first = _transfer(client, auth, amount="3").json()
    reversed_ = client.post(
        f"/api/v1/ledger/transfers/{first['id']}/reverse",
        json={"idempotency_key": "undo", "reason": "wrong card"},
        headers=auth("admin"),
    )
    assert reversed_.status_code == 201, reversed_.text
    statement = client.get(
        "/api/v1/ledger/accounts/card:1:fin/statement", headers=auth("auditor")
    ).json()
    assert [line["balance"] for line in statement["lines"]] == [300, 0]
    at = client.get(
        "/api/v1/ledger/accounts/card:1:fin/balance",
        params={"at": first["created_at"]},
        headers=auth("auditor"),
    ).json()
    assert at["balance"] == 0  # both transfers share the test clock's instant
    totals = client.get("/api/v1/ledger/trial-balance", headers=auth("auditor")).json()
    assert totals["balanced"] and totals["debits_posted"] == 600


def test_a_naive_time_is_refused(client: TestClient, auth, opened: None) -> None:
    response = client.get(
        "/api/v1/ledger/accounts/card:1:fin/balance",
        params={"at": "2025-03-10T10:00:00"},
        headers=auth("auditor"),
    )
    assert _problem(response, 422)["errors"][0]["field"] == "at"


def test_unknown_account_is_404(client: TestClient, auth) -> None:
    _problem(client.get("/api/v1/ledger/accounts/none", headers=auth("admin")), 404)
