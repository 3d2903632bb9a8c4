"""The card endpoints: thin over the service, problem+json on every refusal, residents see only
their own cards."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.cards._lifecycle import card_in, make_resident
from yikatong.cards.models import CardState
from yikatong.core.ids import card_number
from yikatong.node import Node


def _resident(node: Node, **kwargs: Any) -> int:
    with node.transaction() as session:
        return make_resident(session, **kwargs).id


def _card(node: Node, state: CardState) -> tuple[str, int]:
    with node.transaction() as session:
        card = card_in(session, state)
        return card.card_no, card.resident_id


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_a_clerk_applies_for_a_card(node: Node, client: TestClient, auth) -> None:
    resident_id = _resident(node, birth_date=dt.date(1960, 1, 1))
    response = client.post(
        "/api/v1/cards", json={"resident_id": resident_id}, headers=auth("clerk")
    )
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "applied"
    assert body["resident_id"] == resident_id
    assert body["category"] == "senior_60"
    assert body["allowed"] == ["issue", "cancel"]
    assert [e["to_state"] for e in body["events"]] == ["applied"]
    assert body["events"][0]["actor"] == "test-clerk"


def test_applying_twice_is_409_naming_the_live_card(node: Node, client: TestClient, auth) -> None:
    card_no, resident_id = _card(node, CardState.ACTIVE)
    response = client.post(
        "/api/v1/cards", json={"resident_id": resident_id}, headers=auth("clerk")
    )
    assert _problem(response, 409)["card_no"] == card_no


def test_applying_for_a_deceased_resident_is_409(node: Node, client: TestClient, auth) -> None:
    resident_id = _resident(node, died_on=dt.date(2025, 2, 1))
    response = client.post(
        "/api/v1/cards", json={"resident_id": resident_id}, headers=auth("clerk")
    )
    assert "died" in _problem(response, 409)["detail"]


def test_applying_for_an_unknown_resident_is_404(client: TestClient, auth) -> None:
    response = client.post("/api/v1/cards", json={"resident_id": 424242}, headers=auth("clerk"))
    _problem(response, 404)


@pytest.mark.parametrize("resident_id", [0, -3, "abc", None])
def test_a_bad_resident_id_is_422_naming_the_field(
    client: TestClient, auth, resident_id: object
) -> None:
    response = client.post(
        "/api/v1/cards", json={"resident_id": resident_id}, headers=auth("clerk")
    )
    assert _problem(response, 422)["errors"][0]["field"] == "resident_id"


def test_applying_needs_a_clerk(node: Node, client: TestClient, auth) -> None:
    resident_id = _resident(node)
    body = {"resident_id": resident_id}
    _problem(client.post("/api/v1/cards", json=body), 401)
    _problem(client.post("/api/v1/cards", json=body, headers=auth("terminal")), 403)
    mine = auth("resident", resident_id=resident_id)
    _problem(client.post("/api/v1/cards", json=body, headers=mine), 403)


def test_the_whole_lifecycle_over_http(node: Node, client: TestClient, auth) -> None:
    card_no, _ = _card(node, CardState.APPLIED)
    clerk = auth("clerk")

    def post(action: str, **extra: Any) -> dict[str, Any]:
        response = client.post(
            f"/api/v1/cards/{card_no}/{action}", json={"reason": action, **extra}, headers=clerk
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert post("issue")["state"] == "issued"
    assert post("activate")["state"] == "active"
    assert post("report-lost")["state"] == "suspended"
    assert post("restore")["state"] == "active"
    assert post("report-lost", temporary=False)["state"] == "lost"
    new = post("replace")
    assert new["state"] == "issued"
    assert new["card_no"] != card_no
    old = client.get(f"/api/v1/cards/{card_no}", headers=clerk).json()
    assert old["state"] == "replaced"
    assert new["replaces_card_id"] is not None
    assert [e["to_state"] for e in old["events"]] == [
        "applied",
        "issued",
        "active",
        "suspended",
        "active",
        "lost",
        "replaced",
    ]
    cancelled = client.post(
        f"/api/v1/cards/{new['card_no']}/cancel", json={"reason": "moved away"}, headers=clerk
    )
    assert cancelled.json()["state"] == "cancelled"


def test_an_invalid_transition_is_409_with_the_allowed_ones_and_changes_nothing(
    node: Node, client: TestClient, auth
) -> None:
    card_no, _ = _card(node, CardState.ACTIVE)
    response = client.post(
        f"/api/v1/cards/{card_no}/restore", json={"reason": "found"}, headers=auth("clerk")
    )
    body = _problem(response, 409)
    assert body["current_state"] == "active"
    assert body["allowed"] == ["report-lost-temporary", "report-lost-formal", "cancel"]
    after = client.get(f"/api/v1/cards/{card_no}", headers=auth("clerk")).json()
    assert after["state"] == "active"
    assert len(after["events"]) == 3


def test_a_malformed_card_number_is_422_and_an_unknown_one_404(client: TestClient, auth) -> None:
    clerk = auth("clerk")
    body = _problem(client.get("/api/v1/cards/12345678", headers=clerk), 422)
    assert body["errors"][0]["field"] == "card_no"
    wrong_check = card_number(1234)[:-1] + ("0" if card_number(1234)[-1] != "0" else "1")
    _problem(client.get(f"/api/v1/cards/{wrong_check}", headers=clerk), 422)
    _problem(client.get(f"/api/v1/cards/{card_number(99_999_999)}", headers=clerk), 404)
    _problem(
        client.post(
            f"/api/v1/cards/{card_number(99_999_999)}/issue", json={"reason": "x"}, headers=clerk
        ),
        404,
    )


def test_a_transition_without_a_reason_is_422(node: Node, client: TestClient, auth) -> None:
    card_no, _ = _card(node, CardState.APPLIED)
    response = client.post(f"/api/v1/cards/{card_no}/issue", json={}, headers=auth("clerk"))
    assert _problem(response, 422)["errors"][0]["field"] == "reason"
    response = client.post(
        f"/api/v1/cards/{card_no}/issue", json={"reason": ""}, headers=auth("clerk")
    )
    _problem(response, 422)
    assert client.get(f"/api/v1/cards/{card_no}", headers=auth("clerk")).json()["state"] == (
        "applied"
    )


def test_a_resident_sees_and_suspends_their_own_card(node: Node, client: TestClient, auth) -> None:
    card_no, resident_id = _card(node, CardState.ACTIVE)
    mine = auth("resident", resident_id=resident_id)
    assert client.get(f"/api/v1/cards/{card_no}", headers=mine).status_code == 200
    listed = client.get("/api/v1/cards", headers=mine).json()["cards"]
    assert [c["card_no"] for c in listed] == [card_no]
    response = client.post(
        f"/api/v1/cards/{card_no}/report-lost", json={"reason": "lost my wallet"}, headers=mine
    )
    assert response.status_code == 200
    assert response.json()["state"] == "suspended"
    assert response.json()["events"][-1]["actor"] == "test-resident"


def test_a_resident_cannot_touch_another_residents_card(
    node: Node, client: TestClient, auth
) -> None:
    card_no, _ = _card(node, CardState.ACTIVE)
    other = auth("resident", resident_id=_resident(node))
    _problem(client.get(f"/api/v1/cards/{card_no}", headers=other), 403)
    response = client.post(
        f"/api/v1/cards/{card_no}/report-lost", json={"reason": "mischief"}, headers=other
    )
    _problem(response, 403)
    _problem(client.get("/api/v1/cards?resident_id=1&limit=5", headers=other), 403)
    assert client.get(f"/api/v1/cards/{card_no}", headers=auth("clerk")).json()["state"] == (
        "active"
    )


def test_a_resident_cannot_report_formally_or_restore(node: Node, client: TestClient, auth) -> None:
    card_no, resident_id = _card(node, CardState.SUSPENDED)
    mine = auth("resident", resident_id=resident_id)
    formal = client.post(
        f"/api/v1/cards/{card_no}/report-lost",
        json={"reason": "gone", "temporary": False},
        headers=mine,
    )
    _problem(formal, 403)
    restore = client.post(f"/api/v1/cards/{card_no}/restore", json={"reason": "x"}, headers=mine)
    _problem(restore, 403)


def test_an_auditor_reads_but_does_not_change_cards(node: Node, client: TestClient, auth) -> None:
    card_no, _ = _card(node, CardState.ACTIVE)
    auditor = auth("auditor")
    assert client.get(f"/api/v1/cards/{card_no}", headers=auditor).status_code == 200
    response = client.post(
        f"/api/v1/cards/{card_no}/report-lost", json={"reason": "x"}, headers=auditor
    )
    _problem(response, 403)


def test_listing_filters_by_state(node: Node, client: TestClient, auth) -> None:
    active, _ = _card(node, CardState.ACTIVE)
    _card(node, CardState.ISSUED)
    response = client.get("/api/v1/cards?state=active&limit=10", headers=auth("clerk"))
    assert [c["card_no"] for c in response.json()["cards"]] == [active]
    bad = client.get("/api/v1/cards?state=stolen", headers=auth("clerk"))
    assert _problem(bad, 422)["errors"][0]["field"] == "state"
    _problem(client.get("/api/v1/cards?limit=0", headers=auth("clerk")), 422)


def test_a_terminal_downloads_deny_list_deltas(node: Node, client: TestClient, auth) -> None:
    suspended, _ = _card(node, CardState.SUSPENDED)
    _card(node, CardState.CANCELLED)
    terminal = auth("terminal")

    first = client.get("/api/v1/denylist?since=0&limit=1", headers=terminal).json()
    assert [e["action"] for e in first["entries"]] == ["add"]
    assert first["next_since"] == 1
    rest = client.get(f"/api/v1/denylist?since={first['next_since']}", headers=terminal).json()
    assert len(rest["entries"]) == 1
    assert rest["next_since"] == 2
    idle = client.get("/api/v1/denylist?since=2", headers=terminal).json()
    assert idle == {"entries": [], "next_since": 2}

    full = client.get("/api/v1/denylist/full", headers=terminal).json()
    assert len(full["card_refs"]) == 2
    assert full["next_since"] == 2
    detail = client.get(f"/api/v1/cards/{suspended}", headers=auth("clerk")).json()
    assert detail["card_ref"] in full["card_refs"]


def test_the_deny_list_is_for_terminals_and_staff_only(
    node: Node, client: TestClient, auth
) -> None:
    resident = auth("resident", resident_id=_resident(node))
    _problem(client.get("/api/v1/denylist", headers=resident), 403)
    _problem(client.get("/api/v1/denylist"), 401)
    bad = client.get("/api/v1/denylist?since=-1", headers=auth("terminal"))
    assert _problem(bad, 422)["errors"][0]["field"] == "since"
