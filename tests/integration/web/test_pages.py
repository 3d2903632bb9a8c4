"""The web pages over the test client: who may see what, and bad input that changes nothing."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from yikatong.api.auth import issue_token
from yikatong.audit import service as audit
from yikatong.cards import service as cards
from yikatong.core.ids import card_number, make_resident_id
from yikatong.node import Node
from yikatong.registry import service as registry


def _resident_with_card(node: Node) -> tuple[int, str]:
    with node.transaction() as session:
        resident = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=make_resident_id("370202", dt.date(1950, 5, 4), 7),
                name="刘桂兰",
                district_code="370202",
                phone="13912345678",
            ),
            actor="clerk-test",
        )
        card_no = cards.apply_for_card(session, resident.id, actor="clerk-test").card_no
        cards.issue_card(session, card_no, actor="clerk-test", reason="made")
        cards.activate_card(session, card_no, actor="clerk-test", reason="received")
        return resident.id, card_no


def _sign_in(client: TestClient, node: Node, subject: str, roles: list[str], **kw: int) -> None:
    client.cookies.set("ykt_token", issue_token(node, subject, roles, **kw))


def test_pages_send_strangers_to_sign_in(client: TestClient) -> None:
    for path in ("/me", "/console", "/console/audit", "/console/residents?q=刘"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_a_resident_cannot_open_the_console(client: TestClient, node: Node) -> None:
    resident_id, _ = _resident_with_card(node)
    _sign_in(client, node, "app-1", ["resident"], resident_id=resident_id)
    assert client.get("/console", follow_redirects=False).status_code == 303
    page = client.get("/me")
    assert page.status_code == 200 and "刘桂兰" in page.text and "139****5678" in page.text


def test_unmasking_without_a_reason_is_refused_and_not_audited(
    client: TestClient, node: Node
) -> None:
    resident_id, _ = _resident_with_card(node)
    _sign_in(client, node, "clerk-wang", ["clerk"])
    refused = client.post(f"/console/residents/{resident_id}/unmask", data={"reason": " "})
    assert "say why" in refused.text
    with node.transaction() as session:
        assert audit.search(session, actor="clerk-wang") == []
    shown = client.post(f"/console/residents/{resident_id}/unmask", data={"reason": "核验"})
    assert "13912345678" in shown.text
    with node.transaction() as session:
        assert [e.reason for e in audit.search(session, actor="clerk-wang")] == ["核验"]


def test_an_auditor_may_not_unmask_or_operate_cards(client: TestClient, node: Node) -> None:
    resident_id, card_no = _resident_with_card(node)
    _sign_in(client, node, "auditor-li", ["auditor"])
    assert (
        "13912345678"
        not in client.post(f"/console/residents/{resident_id}/unmask", data={"reason": "好奇"}).text
    )
    refused = client.post(f"/console/cards/{card_no}/cancel")
    assert "clerk or admin" in refused.text
    with node.transaction() as session:
        assert cards.get_card(session, card_no).state == cards.CardState.ACTIVE


def test_a_card_action_not_allowed_from_the_state_changes_nothing(
    client: TestClient, node: Node
) -> None:
    _, card_no = _resident_with_card(node)
    _sign_in(client, node, "clerk-wang", ["clerk"])
    refused = client.post(f"/console/cards/{card_no}/activate")
    assert "active" in refused.text and 'role="alert"' in refused.text
    unknown = client.post(f"/console/cards/{card_no}/explode")
    assert "unknown card action" in unknown.text
    malformed = client.post("/console/cards/000000000/cancel")
    assert malformed.status_code == 422 and "check" in malformed.text
    missing = client.post(f"/console/cards/{card_number(99_999_999)}/cancel")
    assert missing.status_code == 404
    with node.transaction() as session:
        assert cards.get_card(session, card_no).state == cards.CardState.ACTIVE


def test_a_forged_cookie_is_not_a_sign_in(client: TestClient, node: Node) -> None:
    client.cookies.set("ykt_token", "ykt1.eyJzdWIiOiJ4In0.forged")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_token_sign_in_sets_a_strict_cookie(client: TestClient, auth: AuthHeaders) -> None:
    token = auth("clerk")["Authorization"].removeprefix("Bearer ")
    response = client.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    bad = client.post("/login", data={"token": "nonsense"}, follow_redirects=False)
    assert bad.status_code == 401 and "sign in again" in bad.text
