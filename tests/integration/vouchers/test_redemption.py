"""Redemption (核销): at participating merchants only, during redemption hours, when the order
reaches the threshold; the discount is paid from the campaign budget to the merchant, once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.acquiring._kit import send
from tests.integration.vouchers.conftest import BUDGET, REDEEM, Vouchers, local
from yikatong.core import clock
from yikatong.essc import service as essc_service
from yikatong.ledger import service as ledger
from yikatong.vouchers.models import Voucher, VoucherState


def test_an_order_reaching_the_threshold_gets_the_discount_paid_by_the_campaign(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "8000-600")
    response = vouchers.redeem(client, rider, "8999.00", order="POS-1", voucher_code=voucher.code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["discount"], body["merchant"]) == ("redeemed", 60_000, "liqun")
    assert vouchers.budget() == BUDGET - 60_000
    assert vouchers.owed_to("liqun") == 60_000
    with vouchers.node.transaction() as session:
        assert ledger.verify(session) == []
        assert ledger.trial_balance(session).balanced


def test_a_retried_order_is_redeemed_once_and_a_used_voucher_cannot_be_used_again(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "2000-300")
    first = vouchers.redeem(client, rider, "2500", order="POS-1", voucher_code=voucher.code)
    again = vouchers.redeem(client, rider, "2500", order="POS-1", voucher_code=voucher.code)
    assert again.status_code == 200 and again.json()["transfer_id"] == first.json()["transfer_id"]
    other_order = vouchers.redeem(client, rider, "2500", order="POS-2", voucher_code=voucher.code)
    assert other_order.status_code == 409
    changed_amount = vouchers.redeem(client, rider, "2600", order="POS-1")
    assert changed_amount.status_code == 409
    assert vouchers.budget() == BUDGET - 30_000


def test_without_a_voucher_code_the_best_voucher_the_order_reaches_is_used(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    vouchers.claim(rider, "8000-600")
    vouchers.claim(rider, "5000-500")
    vouchers.claim(rider, "2000-300")
    chosen = vouchers.redeem(client, rider, "6000", order="POS-1")
    assert chosen.json()["type"] == "5000-500"  # 8000 not reached; 500 is the best of the rest
    best = vouchers.redeem(client, rider, "9000", order="POS-2")
    assert best.json()["type"] == "8000-600"
    nothing = vouchers.redeem(client, rider, "1999.99", order="POS-3")
    assert nothing.status_code == 409
    assert vouchers.budget() == BUDGET - 110_000


def test_an_order_below_the_threshold_is_refused_and_nothing_is_paid(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "8000-600")
    short = vouchers.redeem(client, rider, "7999.99", order="POS-1", voucher_code=voucher.code)
    assert short.status_code == 422
    assert "threshold" in short.json()["detail"]
    assert vouchers.budget() == BUDGET
    with vouchers.node.transaction() as session:
        assert session.get(Voucher, voucher.id).state is VoucherState.CLAIMED


def test_only_participating_merchants_redeem(vouchers: Vouchers, client: TestClient) -> None:
    vouchers.campaign()
    elsewhere = vouchers.kit.device("POS-OTHER", "other-shop")
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "2000-300")
    refused = vouchers.redeem(
        client, rider, "3000", order="POS-1", voucher_code=voucher.code, device=elsewhere
    )
    assert refused.status_code == 403
    assert (
        vouchers.redeem(client, rider, "3000", order="POS-1", device=elsewhere).status_code == 409
    )
    assert vouchers.budget() == BUDGET


def test_vouchers_are_redeemed_between_9_and_22_and_within_24_hours(
    vouchers: Vouchers, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "2000-300")  # 2025-03-10 10:00, valid to 03-11 10:00
    fixed_clock.set(local(10, 22, 0))
    late = vouchers.redeem(client, rider, "3000", order="POS-1", voucher_code=voucher.code)
    assert late.status_code == 409 and "22:00" in late.json()["detail"]
    fixed_clock.set(local(11, 9, 59))
    assert (
        vouchers.redeem(client, rider, "3000", order="POS-2", voucher_code=voucher.code).status_code
        == 200
    )
    other = vouchers.resident()
    fixed_clock.set(local(11, 10, 0))
    expiring = vouchers.claim(other, "2000-300")
    fixed_clock.set(local(12, 10, 0))
    expired = vouchers.redeem(client, other, "3000", order="POS-3", voucher_code=expiring.code)
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    assert vouchers.budget() == BUDGET - 30_000


def test_a_voucher_is_used_by_its_holder_only_and_an_essc_code_identifies_them(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    holder, stranger = vouchers.resident(), vouchers.resident()
    voucher = vouchers.claim(holder, "2000-300")
    stolen = vouchers.redeem(client, stranger, "3000", order="POS-1", voucher_code=voucher.code)
    assert stolen.status_code == 403
    with vouchers.node.transaction() as session:
        essc_service.bind_account(session, holder.resident_id, "app-holder", actor="clerk")
        code = essc_service.issue_qr(session, holder.resident_id, "L1").text
    assert vouchers.till is not None
    by_code = send(
        client,
        vouchers.till,
        REDEEM,
        {"order_ref": "POS-2", "order_amount": "3000", "qr": code, "voucher_code": voucher.code},
    )
    assert by_code.status_code == 200, by_code.text


def test_bad_redemption_input_is_refused_and_changes_nothing(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.claim(rider, "2000-300")
    for extra, amount, order, status in (
        ({}, "abc", "POS-1", 422),
        ({}, "0", "POS-1", 422),
        ({}, "-3000", "POS-1", 422),
        ({}, "3000", "bad order ref!", 422),
        ({"voucher_code": "lower-case-x"}, "3000", "POS-1", 422),
        ({"voucher_code": "ZZZZZZZZZZZZ"}, "3000", "POS-1", 404),
        ({"qr": "x"}, "3000", "POS-1", 422),  # both a card and a code
    ):
        response = vouchers.redeem(client, rider, amount, order=order, **extra)
        assert response.status_code == status, (extra, amount, order, response.text)
    unsigned = client.post(
        "/api/v1/terminal/voucher-redemptions",
        json={"order_ref": "POS-1", "order_amount": "3000", "card_no": rider.card_no},
    )
    assert unsigned.status_code == 401
    assert vouchers.budget() == BUDGET
    with vouchers.node.transaction() as session:
        assert (
            session.scalar(select(func.count()).where(Voucher.state == VoucherState.REDEEMED)) == 0
        )
        assert session.get(Voucher, voucher.id).state is VoucherState.CLAIMED
