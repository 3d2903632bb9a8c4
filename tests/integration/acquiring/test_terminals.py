"""Terminal requests are authenticated by the terminal's own key over the exact body."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Kit, send
from yikatong.acquiring import service
from yikatong.core.errors import Unauthorized

PAY = "/api/v1/terminal/payments"


@pytest.fixture
def shop(kit: Kit) -> Kit:
    kit.merchant("qd-shop", "shop")
    return kit


@pytest.mark.parametrize("algorithm", ["Ed25519", "SM2"])
def test_a_signed_request_from_a_registered_terminal_is_accepted(
    shop: Kit, client: TestClient, algorithm: str
) -> None:
    rider = shop.rider()
    shop.fund(rider, fin=5000)
    device = shop.device("SHOP-0001", "qd-shop", algorithm=algorithm)
    answer = send(
        client, device, PAY, {"terminal_seq": 1, "card_no": rider.card_no, "amount": "12.50"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "approve"
    assert answer.json()["amount"] == 1250


def test_a_body_changed_after_signing_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    device = shop.device("SHOP-0002", "qd-shop")
    signed = b'{"terminal_seq": 1, "card_no": "%s", "amount": "1.00"}' % rider.card_no.encode()
    headers = device.headers("POST", PAY, signed)
    tampered = signed.replace(b"1.00", b"0.01")
    answer = client.post(PAY, content=tampered, headers=headers)
    assert answer.status_code == 401
    assert "does not verify" in answer.json()["detail"]


def test_another_terminals_key_does_not_verify(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    mine = shop.device("SHOP-0003", "qd-shop")
    other = shop.device("SHOP-0004", "qd-shop")
    other.terminal_no = mine.terminal_no  # signs as SHOP-0003 with SHOP-0004's key
    answer = send(client, other, PAY, {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"})
    assert answer.status_code == 401


def test_a_replayed_request_sequence_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    shop.fund(rider, fin=1000)
    device = shop.device("SHOP-0005", "qd-shop")
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    assert send(client, device, PAY, body, seq=7).status_code == 200
    replay = send(client, device, PAY, body, seq=7)
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert send(client, device, PAY, body, seq=6).status_code == 401


def test_a_request_outside_the_time_window_is_refused(shop: Kit, client: TestClient) -> None:
    rider = shop.rider()
    device = shop.device("SHOP-0006", "qd-shop")
    from yikatong.core import clock

    stale = clock.now() - dt.timedelta(minutes=10)
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    answer = send(client, device, PAY, body, at=stale)
    assert answer.status_code == 401
    assert "clock" in answer.json()["detail"]


def test_missing_headers_and_unknown_or_retired_terminals_are_refused(
    shop: Kit, client: TestClient
) -> None:
    assert client.post(PAY, json={"terminal_seq": 1}).status_code == 401
    device = shop.device("SHOP-0007", "qd-shop")
    with shop.node.transaction() as session:
        service.retire_terminal(session, "SHOP-0007")
    rider = shop.rider()
    body = {"terminal_seq": 1, "card_no": rider.card_no, "amount": "1"}
    assert send(client, device, PAY, body).status_code == 401


def test_authentication_consumes_nothing_when_the_signature_is_wrong(shop: Kit) -> None:
    device = shop.device("SHOP-0008", "qd-shop")
    with shop.node.transaction() as session:
        with pytest.raises(Unauthorized):
            service.authenticate_terminal(
                session,
                terminal_no=device.terminal_no,
                timestamp="0",
                seq="5",
                signature="00" * 64,
                method="POST",
                path=PAY,
                body=b"{}",
            )
        assert service.get_terminal(session, "SHOP-0008").last_request_seq == 0


def test_registration_refuses_bad_input_and_duplicates(
    shop: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    admin = auth("admin")
    ok = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0100", "merchant": "qd-shop", "algorithm": "SM2"},
        headers=admin,
    )
    assert ok.status_code == 201, ok.text
    assert len(bytes.fromhex(ok.json()["private_key"])) == 96  # SM2 private ‖ public
    again = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0100", "merchant": "qd-shop"},
        headers=admin,
    )
    assert again.status_code == 409
    short_key = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0101", "merchant": "qd-shop", "public_key": "abcd"},
        headers=admin,
    )
    assert short_key.status_code == 422
    assert short_key.json()["errors"][0]["field"] == "public_key"
    clerk = client.post(
        "/api/v1/acquiring/terminals",
        json={"terminal_no": "SHOP-0102", "merchant": "qd-shop"},
        headers=auth("clerk"),
    )
    assert clerk.status_code == 403
    listed = client.get("/api/v1/acquiring/terminals", headers=auth("auditor")).json()
    assert [t["terminal_no"] for t in listed] == ["SHOP-0100"]
    assert listed[0]["private_key"] is None


def test_cli_registers_and_lists_terminals(shop: Kit, ykt: Ykt) -> None:
    made = ykt("terminal", "register", "BUS-0042", "--merchant", "qd-shop", "--line", "26")
    assert made.exit_code == 0, made.output
    assert "private key" in made.output
    listed = ykt("terminal", "list")
    assert listed.exit_code == 0
    assert "BUS-0042" in listed.output
    unknown = ykt("terminal", "register", "BUS-0043", "--merchant", "nobody")
    assert unknown.exit_code == 3
    bad = ykt("terminal", "register", "x", "--merchant", "qd-shop")
    assert bad.exit_code == 2
