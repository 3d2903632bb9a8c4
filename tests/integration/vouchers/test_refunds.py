"""Refunds (退货) of orders paid with a voucher: by the redeeming merchant only, wholly or in
parts; the discount is clawed back to the campaign budget when the order falls below the
threshold, and the voucher is given back to its holder only within its validity."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.vouchers.conftest import BUDGET, REFUND, Vouchers, local
from yikatong.api.auth import issue_token
from yikatong.core import clock
from yikatong.core.errors import Conflict
from yikatong.ledger import service as ledger
from yikatong.ledger.models import Transfer
from yikatong.vouchers import service
from yikatong.vouchers.models import Voucher, VoucherRefund, VoucherState


def _snapshot(vouchers: Vouchers) -> tuple[int, int, int, int, list[tuple[str, str]]]:
    """Budget, what liqun is owed, refunds, transfers, and every voucher's state."""
    with vouchers.node.transaction() as session:
        refunds = session.scalar(select(func.count(VoucherRefund.id))) or 0
        transfers = session.scalar(select(func.count(Transfer.id))) or 0
        states = [
            (v.code, v.state.value) for v in session.scalars(select(Voucher).order_by(Voucher.id))
        ]
    return vouchers.budget(), vouchers.owed_to("liqun"), refunds, transfers, states


def _ledger_sound(vouchers: Vouchers) -> None:
    with vouchers.node.transaction() as session:
        assert ledger.verify(session) == []
        assert ledger.trial_balance(session).balanced


def test_a_full_refund_claws_the_discount_back_and_gives_the_valid_voucher_back(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "8000-600", "8999.00", "POS-1")
    assert (vouchers.budget(), vouchers.owed_to("liqun")) == (BUDGET - 60_000, 60_000)
    response = vouchers.refund(client, voucher.code, "8999.00", order="POS-1", ref="RET-1")
    assert response.status_code == 200, response.text
    body = response.json()
    # the resident paid 8 399 yuan at the till and gets exactly that back
    assert (body["amount"], body["clawback"], body["resident_refund"]) == (899_900, 60_000, 839_900)
    assert (body["order_left"], body["refunded_total"], body["refundable"]) == (0, 899_900, 0)
    assert body["voucher"]["state"] == "refunded" and body["transfer_id"] is not None
    assert body["released_again"] is False
    # the city pays nothing for a returned appliance
    assert (vouchers.budget(), vouchers.owed_to("liqun")) == (BUDGET, 0)
    with vouchers.node.transaction() as session:
        clawback = ledger.get_transfer(session, body["transfer_id"])
        refunded = session.get(Voucher, voucher.id)
        assert clawback.reverses_id == refunded.transfer_id  # a compensating transfer
        # the redemption stays recorded on the refunded voucher
        assert (refunded.order_ref, refunded.order_amount, refunded.state) == (
            "POS-1",
            899_900,
            VoucherState.REFUNDED,
        )
    _ledger_sound(vouchers)
    # still within its 24 h: the holder gets a voucher of the same type until the same time
    again = body["reinstated_voucher"]
    assert again is not None and again["code"] != voucher.code
    assert (again["type"], again["state"]) == ("8000-600", "claimed")
    assert again["expires_at"] == body["voucher"]["expires_at"]
    used = vouchers.redeem(client, rider, "8000", order="POS-2", voucher_code=again["code"])
    assert used.status_code == 200, used.text
    assert vouchers.budget() == BUDGET - 60_000
    # the week's 8000-600 voucher is still the one claimed: no second claim
    with pytest.raises(Conflict, match="once a week"), vouchers.node.transaction() as session:
        service.claim_voucher(session, "qd-appliances", "8000-600", rider.resident_id)
    _ledger_sound(vouchers)


def test_a_refund_after_the_validity_releases_the_slot_and_the_week_stays_used(
    vouchers: Vouchers, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "POS-1")
    fixed_clock.set(local(11, 12, 0))  # the voucher was valid until 03-11 10:00
    before = vouchers.release("2000-300", 11)
    response = vouchers.refund(client, voucher.code, "2500", order="POS-1", ref="RET-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clawback"], body["resident_refund"]) == (30_000, 220_000)
    assert body["reinstated_voucher"] is None and body["released_again"] is True
    assert body["voucher"]["state"] == "refunded"
    quota, returned, claimed = vouchers.release("2000-300", 11)
    assert (quota, returned, claimed) == (before[0], before[1] + 1, before[2])
    with vouchers.node.transaction() as session:
        assert session.get(Voucher, voucher.id).returned_to_release_id is not None
    # the same week (Monday 10th – Sunday 16th): the holder's 2000-300 stays used …
    with pytest.raises(Conflict, match="once a week"), vouchers.node.transaction() as session:
        service.claim_voucher(session, "qd-appliances", "2000-300", rider.resident_id)
    # … while the slot went to someone else
    other = vouchers.resident()
    assert vouchers.claim(other, "2000-300").state is VoucherState.CLAIMED
    assert vouchers.budget() == BUDGET
    _ledger_sound(vouchers)


def test_partial_refunds_above_then_below_the_threshold_add_up_to_the_order(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "8000-600", "9000", "POS-1")
    # 8 500 left still reaches 8 000: the paid money comes back, the discount stays
    above = vouchers.refund(client, voucher.code, "500", order="POS-1", ref="RET-1")
    assert above.status_code == 200, above.text
    body = above.json()
    assert (body["clawback"], body["resident_refund"], body["order_left"]) == (0, 50_000, 850_000)
    assert body["voucher"]["state"] == "redeemed" and body["transfer_id"] is None
    assert (body["refunded_total"], body["refundable"]) == (50_000, 850_000)
    assert vouchers.budget() == BUDGET - 60_000
    # 7 900 left is below 8 000: the 600 discount comes off this refund of 600
    below = vouchers.refund(client, voucher.code, "600", order="POS-1", ref="RET-2")
    assert below.status_code == 200, below.text
    body = below.json()
    assert (body["clawback"], body["resident_refund"], body["order_left"]) == (60_000, 0, 790_000)
    assert body["voucher"]["state"] == "refunded"
    assert (vouchers.budget(), vouchers.owed_to("liqun")) == (BUDGET, 0)
    # the rest is paid back in full: no discount is left to take
    rest = vouchers.refund(client, voucher.code, "7900", order="POS-1", ref="RET-3")
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert (body["clawback"], body["resident_refund"], body["refundable"]) == (0, 790_000, 0)
    with vouchers.node.transaction() as session:
        refunds = service.refunds_of_voucher(session, voucher.id)
    # all together the resident got back what they paid: 9 000 − 600 yuan
    assert sum(r.resident_refund for r in refunds) == 840_000
    assert sum(r.amount for r in refunds) == 900_000
    assert vouchers.budget() == BUDGET
    _ledger_sound(vouchers)


def test_a_refund_below_the_threshold_smaller_than_the_discount_is_refused(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "8000-600", "8000", "POS-1")
    before = _snapshot(vouchers)
    small = vouchers.refund(client, voucher.code, "100", order="POS-1", ref="RET-1")
    assert small.status_code == 422
    assert "threshold" in small.json()["detail"] and "at least 600.00" in small.json()["detail"]
    assert _snapshot(vouchers) == before


def test_a_refund_is_idempotent_by_its_reference_and_a_changed_one_conflicts(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "POS-1")
    other = vouchers.redeemed(client, rider, "5000-500", "5000", "POS-2")
    first = vouchers.refund(client, voucher.code, "2500", order="POS-1", ref="RET-1")
    assert first.status_code == 200, first.text
    after_first = _snapshot(vouchers)
    again = vouchers.refund(client, voucher.code, "2500", order="POS-1", ref="RET-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _snapshot(vouchers) == after_first  # nothing paid twice
    changed = vouchers.refund(client, voucher.code, "2000", order="POS-1", ref="RET-1")
    assert changed.status_code == 409
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert "RET-1" in changed.json()["detail"]
    elsewhere = vouchers.refund(client, other.code, "5000", order="POS-2", ref="RET-1")
    assert elsewhere.status_code == 409
    assert _snapshot(vouchers) == after_first


def test_only_the_redeeming_merchant_refunds(vouchers: Vouchers, client: TestClient) -> None:
    vouchers.campaign()
    vouchers.kit.merchant("suning", "shop", "苏宁易购")
    with vouchers.node.transaction() as session:
        service.add_merchant(session, "qd-appliances", "suning")
    suning = vouchers.kit.device("POS-SUNING", "suning")
    outsider = vouchers.kit.device("POS-OTHER", "other-shop")
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "POS-1")
    before = _snapshot(vouchers)
    for till in (suning, outsider):
        refused = vouchers.refund(
            client, voucher.code, "2500", order="POS-1", ref="RET-1", device=till
        )
        assert refused.status_code == 403, refused.text
        assert "only the merchant that redeemed it" in refused.json()["detail"]
    unsigned = client.post(
        REFUND,
        json={"voucher_code": voucher.code, "order_ref": "POS-1", "refund_ref": "R", "amount": "1"},
    )
    assert unsigned.status_code == 401
    assert _snapshot(vouchers) == before


def test_over_refunds_and_bad_input_are_refused_and_change_nothing(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "POS-1")
    unused = vouchers.claim(vouchers.resident(), "2000-300")
    assert (
        vouchers.refund(client, voucher.code, "1000", order="POS-1", ref="RET-1").status_code == 200
    )
    before = _snapshot(vouchers)
    for code, amount, order, ref, status in (
        (voucher.code, "1500.01", "POS-1", "RET-2", 422),  # 1 500 yuan is left to refund
        (voucher.code, "2500", "POS-1", "RET-2", 422),
        (voucher.code, "0", "POS-1", "RET-2", 422),
        (voucher.code, "-5", "POS-1", "RET-2", 422),
        (voucher.code, "abc", "POS-1", "RET-2", 422),
        (voucher.code, "10", "POS-1", "bad ref!", 422),
        (voucher.code, "10", "POS-9", "RET-2", 409),  # not the order it was redeemed on
        ("lower-case-x", "10", "POS-1", "RET-2", 422),
        ("ZZZZZZZZZZZZ", "10", "POS-1", "RET-2", 404),
        (unused.code, "10", "POS-1", "RET-2", 409),  # never used on an order
    ):
        response = vouchers.refund(client, code, amount, order=order, ref=ref)
        assert response.status_code == status, (code, amount, order, ref, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"]
    over = vouchers.refund(client, voucher.code, "1500.01", order="POS-1", ref="RET-2")
    assert "1500.00" in over.json()["detail"]
    assert _snapshot(vouchers) == before
    assert (
        vouchers.refund(client, voucher.code, "1500", order="POS-1", ref="RET-2").status_code == 200
    )
    assert vouchers.budget() == BUDGET


def test_the_report_counts_refunds_and_clawed_back_discounts(
    vouchers: Vouchers, client: TestClient, auth: Any
) -> None:
    vouchers.campaign()
    a, b = vouchers.resident(), vouchers.resident()
    kept = vouchers.redeemed(client, a, "2000-300", "3000", "POS-1")
    returned = vouchers.redeemed(client, b, "2000-300", "2500", "POS-2")
    assert vouchers.refund(client, kept.code, "500", order="POS-1", ref="RET-1").status_code == 200
    assert (
        vouchers.refund(client, returned.code, "2500", order="POS-2", ref="RET-2").status_code
        == 200
    )
    report = client.get(
        "/api/v1/vouchers/campaigns/qd-appliances/report", headers=auth("auditor")
    ).json()
    small = next(t for t in report["types"] if t["code"] == "2000-300")
    assert (small["redeemed"], small["refunded"], small["reinstated"], small["outstanding"]) == (
        2,
        1,
        1,
        1,
    )
    assert (small["discount_paid"], small["clawed_back"], small["subsidy"]) == (
        60_000,
        30_000,
        30_000,
    )
    (liqun,) = report["merchants"]
    assert (liqun["refunds"], liqun["refunded_amount"], liqun["vouchers_refunded"]) == (
        2,
        300_000,
        1,
    )
    assert (liqun["clawed_back"], liqun["subsidy"]) == (30_000, 30_000)
    assert (report["paid"], report["clawed_back"], report["subsidy"]) == (60_000, 30_000, 30_000)
    assert report["balance"] == BUDGET - 30_000 and report["balanced"] is True


def test_the_refund_command(vouchers: Vouchers, client: TestClient, ykt: Ykt) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "5000-500", "6000", "POS-1")
    args = (
        "voucher",
        "refund",
        "--terminal",
        "POS-LIQUN",
        "--voucher",
        voucher.code,
        "--order",
        "POS-1",
    )
    partial = ykt(*args, "--ref", "RET-1", "--amount", "1000")
    assert partial.exit_code == 0, partial.output
    assert (
        "hand back 1000.00 yuan" in partial.output
        and "5000.00 yuan still refundable" in partial.output
    )
    full = ykt(*args, "--ref", "RET-2", "--amount", "5000")
    assert full.exit_code == 0, full.output
    assert "hand back 4500.00 yuan" in full.output and "discount 500.00 clawed back" in full.output
    assert "the holder got voucher" in full.output
    assert ykt(*args, "--ref", "RET-2", "--amount", "4000").exit_code == 4  # changed content
    assert ykt(*args, "--ref", "RET-3", "--amount", "1").exit_code == 2  # nothing left
    assert ykt(*args, "--ref", "RET-3", "--amount", "x").exit_code == 2
    assert ykt(*args[:3], "NOPE-1", *args[4:], "--ref", "RET-3", "--amount", "1").exit_code == 3
    assert vouchers.budget() == BUDGET


def test_the_portal_shows_a_refunded_voucher_and_the_one_given_back(
    vouchers: Vouchers, client: TestClient
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "POS-1")
    body = vouchers.refund(client, voucher.code, "2500", order="POS-1", ref="RET-1").json()
    token = issue_token(vouchers.node, "app-refund", ["resident"], resident_id=rider.resident_id)
    client.cookies.set("ykt_token", token)
    page = client.get("/me/vouchers").text
    assert voucher.code in page and body["reinstated_voucher"]["code"] in page
    assert "已退货" in page and "可使用" in page
    english = client.get("/me/vouchers", headers={"Accept-Language": "en"}).text
    assert "Returned (discount refunded)" in english
