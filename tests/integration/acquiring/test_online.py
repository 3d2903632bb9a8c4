"""Online authorisation (联机授权): card state, deny list, balance, idempotent sequence."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit, Rider, send
from yikatong.acquiring import service
from yikatong.cards import service as cards_service
from yikatong.essc import service as essc_service
from yikatong.ledger import service as ledger

PAY = "/api/v1/terminal/payments"


def _pay(
    client: TestClient, kit: Kit, device: Device, seq: int, card: str, amount: str
) -> dict[str, object]:
    answer = send(client, device, PAY, {"terminal_seq": seq, "card_no": card, "amount": amount})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _setup(kit: Kit) -> tuple[Rider, Device]:
    kit.merchant("qd-canteen", "canteen")
    rider = kit.rider()
    kit.fund(rider, fin=2000)
    return rider, kit.device("CANTEEN-01", "qd-canteen")


def test_an_approved_tap_moves_the_money_card_to_merchant(kit: Kit, client: TestClient) -> None:
    rider, device = _setup(kit)
    tap = _pay(client, kit, device, 1, rider.card_no, "8.50")
    assert (tap["decision"], tap["reason"], tap["amount"]) == ("approve", "ok", 850)
    with kit.node.transaction() as session:
        merchant = service.get_merchant(session, "qd-canteen")
        assert ledger.balance(session, merchant.acquired_account_id) == 850
        fin = service.card_account(session, rider.card_no, "fin")
        assert ledger.balance(session, fin) == 2000 - 850
        assert ledger.trial_balance(session).balanced


def test_a_retried_sequence_is_answered_once_and_charged_once(kit: Kit, client: TestClient) -> None:
    rider, device = _setup(kit)
    first = _pay(client, kit, device, 5, rider.card_no, "3")
    again = _pay(client, kit, device, 5, rider.card_no, "3")
    assert again["tap_id"] == first["tap_id"]
    with kit.node.transaction() as session:
        fin = service.card_account(session, rider.card_no, "fin")
        assert ledger.balance(session, fin) == 1700


def test_insufficient_balance_is_declined_with_nothing_charged(
    kit: Kit, client: TestClient
) -> None:
    rider, device = _setup(kit)
    tap = _pay(client, kit, device, 1, rider.card_no, "20.01")
    assert (tap["decision"], tap["reason"], tap["transfer_id"]) == (
        "decline",
        "insufficient-funds",
        None,
    )
    with kit.node.transaction() as session:
        fin = service.card_account(session, rider.card_no, "fin")
        assert ledger.balance(session, fin) == 2000


def test_a_card_reported_lost_is_declined(kit: Kit, client: TestClient) -> None:
    rider, device = _setup(kit)
    with kit.node.transaction() as session:
        cards_service.report_lost(session, rider.card_no, actor="clerk", reason="lost on bus")
    tap = _pay(client, kit, device, 1, rider.card_no, "1")
    assert (tap["decision"], tap["reason"]) == ("decline", "card-suspended")


def test_an_unknown_card_is_declined(kit: Kit, client: TestClient) -> None:
    _, device = _setup(kit)
    tap = _pay(client, kit, device, 1, "000000000", "1")
    assert (tap["decision"], tap["reason"], tap["card_no"]) == ("decline", "unknown-card", None)


def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    kit: Kit, client: TestClient
) -> None:
    rider, device = _setup(kit)
    for body, field in (
        ({"terminal_seq": 1, "card_no": rider.card_no, "amount": "-1"}, "amount"),
        ({"terminal_seq": 1, "card_no": rider.card_no, "amount": "1.001"}, "amount"),
        ({"terminal_seq": 0, "card_no": rider.card_no, "amount": "1"}, "terminal_seq"),
    ):
        answer = send(client, device, PAY, body)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    both = send(client, device, PAY, {"terminal_seq": 1, "amount": "1"})
    assert both.status_code == 422
    with kit.node.transaction() as session:
        assert service.card_debts(session, rider.card_no) == []
        assert service.get_terminal(session, "CANTEEN-01").last_request_seq == 0


def test_an_essc_payment_code_pays_once_and_an_identity_code_cannot_pay(
    kit: Kit, client: TestClient
) -> None:
    rider, device = _setup(kit)
    with kit.node.transaction() as session:
        account = essc_service.bind_account(
            session, rider.resident_id, f"app-{rider.resident_id}", actor="clerk"
        )
        essc_service.set_pin(session, account.id, "135790")
        l2 = essc_service.issue_qr(session, rider.resident_id, "L2", pin="135790").text
        l1 = essc_service.issue_qr(session, rider.resident_id, "L1").text
    paid = send(client, device, PAY, {"terminal_seq": 1, "qr": l2, "amount": "2"})
    assert paid.json()["decision"] == "approve"
    assert paid.json()["card_no"] == rider.card_no
    # The same scan retried with the same sequence is the same tap; a new sequence is a replay.
    retried = send(client, device, PAY, {"terminal_seq": 1, "qr": l2, "amount": "2"})
    assert retried.json()["tap_id"] == paid.json()["tap_id"]
    replay = send(client, device, PAY, {"terminal_seq": 2, "qr": l2, "amount": "2"})
    assert replay.json()["reason"] == "qr-replayed"
    identity = send(client, device, PAY, {"terminal_seq": 3, "qr": l1, "amount": "2"})
    assert identity.json()["reason"] == "qr-not-payment"
    with kit.node.transaction() as session:
        assert ledger.balance(session, service.card_account(session, rider.card_no, "fin")) == 1800
