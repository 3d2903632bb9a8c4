"""Refunds (退货) after the close-out: goods bought with a voucher come back days after the
campaign ended. The redeeming merchant still refunds them under the same rules, but the discount
it gives up goes to the fiscal account the budget was returned to (the campaign budget is closed
at 0), and the voucher is not given back to its holder nor its slot released again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.vouchers.conftest import BUDGET, CODE, Vouchers, local
from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.ledger.models import Transfer
from yikatong.vouchers import service
from yikatong.vouchers.models import ClawbackTo, Voucher, VoucherRefund, VoucherState

CLOSE = f"/api/v1/vouchers/campaigns/{CODE}/close"
REPORT = f"/api/v1/vouchers/campaigns/{CODE}/report"


@dataclass(frozen=True)
class Ledger:
    """Where the money stands: the budget, what liqun is owed, the fiscal account's counters."""

    budget: int
    liqun: int
    fiscal_debits: int
    fiscal_credits: int
    transfers: int
    refunds: int


def _ledger(vouchers: Vouchers) -> Ledger:
    with vouchers.node.transaction() as session:
        fiscal = ledger.get_account_by_code(session, service.FISCAL_ACCOUNT_CODE)
        transfers = int(session.scalar(select(func.count(Transfer.id))) or 0)
        refunds = int(session.scalar(select(func.count(VoucherRefund.id))) or 0)
        debits, credits = fiscal.debits_posted, fiscal.credits_posted
    return Ledger(vouchers.budget(), vouchers.owed_to("liqun"), debits, credits, transfers, refunds)


def _ledger_sound(vouchers: Vouchers) -> None:
    with vouchers.node.transaction() as session:
        assert ledger.verify(session) == []
        assert ledger.trial_balance(session).balanced


def _closed(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    fixed_clock.set(local(21, 9, 0))  # the day after the last day, every voucher expired
    response = client.post(CLOSE, headers=auth("admin", subject="admin-close"))
    assert response.status_code == 200, response.text
    assert vouchers.budget() == 0


def test_a_partial_refund_after_the_close_out_that_keeps_the_threshold_claws_nothing_back(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    voucher = vouchers.redeemed(client, vouchers.resident(), "8000-600", "9000", "L-1")
    _closed(vouchers, client, auth, fixed_clock)
    fixed_clock.set(local(24, 15, 0))  # the return comes days later
    before = _ledger(vouchers)
    response = vouchers.refund(client, voucher.code, "500", order="L-1", ref="R-1")
    assert response.status_code == 200, response.text
    body = response.json()
    # 8 500 yuan kept still reaches 8 000: the resident gets the 500 back, the discount stays
    assert (body["amount"], body["clawback"], body["resident_refund"]) == (50_000, 0, 50_000)
    assert (body["order_left"], body["refundable"]) == (850_000, 850_000)
    assert (body["transfer_id"], body["clawback_to"]) == (None, None)
    assert body["voucher"]["state"] == "redeemed"
    after = _ledger(vouchers)
    assert after == replace(before, refunds=before.refunds + 1)  # a record, no money moved
    assert after.budget == 0 and after.liqun == 60_000


def test_the_refund_crossing_below_the_threshold_after_the_close_out_pays_the_fiscal_account(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    voucher = vouchers.redeemed(client, vouchers.resident(), "8000-600", "9000", "L-1")
    _closed(vouchers, client, auth, fixed_clock)
    fixed_clock.set(local(24, 15, 0))
    releases_before = [vouchers.release("8000-600", day) for day in (10, 20)]
    assert vouchers.refund(client, voucher.code, "500", order="L-1", ref="R-1").status_code == 200
    before = _ledger(vouchers)
    # 7 900 yuan kept is below 8 000: the whole 600 discount comes off this refund of 600
    response = vouchers.refund(client, voucher.code, "600", order="L-1", ref="R-2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clawback"], body["resident_refund"], body["order_left"]) == (60_000, 0, 790_000)
    assert body["clawback_to"] == "fiscal" and body["transfer_id"] is not None
    assert body["voucher"]["state"] == "refunded"
    # the campaign is over: no voucher is given back and no slot released again
    assert (body["reinstated_voucher"], body["released_again"]) == (None, False)
    assert [vouchers.release("8000-600", day) for day in (10, 20)] == releases_before
    after = _ledger(vouchers)
    assert after.budget == 0  # the closed budget takes nothing
    assert after.liqun == before.liqun - 60_000 == 0
    assert (after.fiscal_credits - before.fiscal_credits, after.fiscal_debits) == (
        60_000,
        before.fiscal_debits,
    )
    assert after.transfers == before.transfers + 1
    with vouchers.node.transaction() as session:
        liqun = acquiring.get_merchant(session, "liqun")
        transfer = ledger.get_transfer(session, body["transfer_id"])
        refunded = session.get(Voucher, voucher.id)
        budget = ledger.get_account_by_code(session, f"voucher:{CODE}:budget")
        fiscal = ledger.get_account_by_code(session, service.FISCAL_ACCOUNT_CODE)
        assert (transfer.debit_account_id, transfer.credit_account_id) == (
            liqun.settlement_account_id,
            fiscal.id,
        )
        assert budget.id not in (transfer.debit_account_id, transfer.credit_account_id)
        assert transfer.amount == 60_000 and transfer.reverses_id is None
        assert transfer.idempotency_key == f"voucher:clawback-fiscal:{voucher.id}"
        assert transfer.meta["clawback_of"] == refunded.transfer_id  # the redemption
        (stored,) = session.scalars(
            select(VoucherRefund).where(VoucherRefund.refund_ref == "R-2")
        ).all()
        assert (stored.clawback_to, stored.transfer_id) == (ClawbackTo.FISCAL, transfer.id)
        assert refunded.state is VoucherState.REFUNDED and refunded.returned_to_release_id is None
        assert session.scalar(select(Voucher).where(Voucher.reinstates_id == voucher.id)) is None
    # the rest of the order is paid back in full: no discount is left to take
    rest = vouchers.refund(client, voucher.code, "7900", order="L-1", ref="R-3")
    assert rest.status_code == 200, rest.text
    assert (rest.json()["clawback"], rest.json()["resident_refund"]) == (0, 790_000)
    assert rest.json()["clawback_to"] is None
    assert _ledger(vouchers).transfers == after.transfers
    _ledger_sound(vouchers)


def test_a_voucher_still_valid_at_the_close_out_is_not_given_back_after_it(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    fixed_clock.set(local(20, 12, 0))  # the last day: claimed and used, valid until 21st 12:00
    rider = vouchers.resident()
    voucher = vouchers.redeemed(client, rider, "2000-300", "2500", "L-1")
    _closed(vouchers, client, auth, fixed_clock)
    fixed_clock.set(local(21, 9, 30))  # before the voucher's validity ran out
    response = vouchers.refund(client, voucher.code, "2500", order="L-1", ref="R-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clawback"], body["resident_refund"], body["clawback_to"]) == (
        30_000,
        220_000,
        "fiscal",
    )
    assert (body["reinstated_voucher"], body["released_again"]) == (None, False)
    with vouchers.node.transaction() as session:
        held = service.vouchers_of_resident(session, rider.resident_id)
    assert [(v.code, v.state) for v, _, _ in held] == [(voucher.code, VoucherState.REFUNDED)]


def test_a_refund_after_the_close_out_retried_answers_the_first_and_changed_content_conflicts(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    voucher = vouchers.redeemed(client, vouchers.resident(), "2000-300", "2500", "L-1")
    other = vouchers.redeemed(client, vouchers.resident(), "5000-500", "5000", "L-2")
    _closed(vouchers, client, auth, fixed_clock)
    fixed_clock.set(local(23, 11, 0))
    first = vouchers.refund(client, voucher.code, "2500", order="L-1", ref="R-1")
    assert first.status_code == 200, first.text
    assert first.json()["clawback_to"] == "fiscal"
    after_first = _ledger(vouchers)
    fixed_clock.set(local(23, 11, 5))  # the till did not hear the answer and sends it again
    again = vouchers.refund(client, voucher.code, "2500", order="L-1", ref="R-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert _ledger(vouchers) == after_first  # no second transfer, no second refund
    for code, amount, order in ((voucher.code, "2000", "L-1"), (other.code, "5000", "L-2")):
        changed = vouchers.refund(client, code, amount, order=order, ref="R-1")
        assert changed.status_code == 409, changed.text
        assert changed.headers["content-type"].startswith("application/problem+json")
        assert "R-1" in changed.json()["detail"]
    assert _ledger(vouchers) == after_first
    with vouchers.node.transaction() as session:
        assert session.get(Voucher, other.id).state is VoucherState.REDEEMED


def test_after_the_close_out_only_the_redeeming_merchant_refunds_and_bad_refunds_change_nothing(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    outsider = vouchers.kit.device("POS-OTHER", "other-shop")
    voucher = vouchers.redeemed(client, vouchers.resident(), "8000-600", "8000", "L-1")
    _closed(vouchers, client, auth, fixed_clock)
    before = _ledger(vouchers)
    refused = vouchers.refund(client, voucher.code, "8000", order="L-1", ref="R-1", device=outsider)
    assert refused.status_code == 403 and "only the merchant" in refused.json()["detail"]
    for amount, order, status in (
        ("100", "L-1", 422),  # below the threshold yet smaller than the 600 discount
        ("8000.01", "L-1", 422),  # more than the order
        ("8000", "L-9", 409),  # not the order it was redeemed on
    ):
        response = vouchers.refund(client, voucher.code, amount, order=order, ref="R-1")
        assert response.status_code == status, (amount, order, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert _ledger(vouchers) == before


def test_the_report_balances_and_shows_the_clawbacks_after_the_close_out_apart(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock, ykt: Ykt
) -> None:
    vouchers.campaign()
    vouchers.kit.merchant("suning", "shop", "苏宁易购")
    with vouchers.node.transaction() as session:
        service.add_merchant(session, CODE, "suning")
    suning = vouchers.kit.device("POS-SUNING", "suning")
    a, b, c, d = (vouchers.resident() for _ in range(4))
    before_close = vouchers.redeemed(client, a, "2000-300", "2500", "L-1")
    after_close = vouchers.redeemed(client, b, "2000-300", "2100", "L-2")
    kept = vouchers.redeemed(client, c, "8000-600", "9000", "L-3")
    mid = vouchers.claim(d, "5000-500")
    assert (
        vouchers.redeem(client, d, "5200", order="S-1", voucher_code=mid.code, device=suning)
    ).status_code == 200
    # before the close-out: a's order comes back, the 300 goes back to the budget
    fixed_clock.set(local(12, 15, 0))
    early = vouchers.refund(client, before_close.code, "2500", order="L-1", ref="R-1")
    assert early.json()["clawback_to"] == "budget"
    fiscal_before = _ledger(vouchers)
    _closed(vouchers, client, auth, fixed_clock)
    returned = BUDGET - (30_000 * 2 + 60_000 + 50_000) + 30_000
    # after it: b's order and part of c's (still above 8 000) and all of d's come back
    fixed_clock.set(local(25, 16, 0))
    for voucher, amount, order, ref, till in (
        (after_close, "2100", "L-2", "R-2", None),
        (kept, "1000", "L-3", "R-3", None),
        (mid, "5200", "S-1", "R-4", suning),
    ):
        made = vouchers.refund(client, voucher.code, amount, order=order, ref=ref, device=till)
        assert made.status_code == 200, made.text
    late = 30_000 + 50_000
    report = client.get(REPORT, headers=auth("auditor")).json()
    assert (report["paid"], report["clawed_back"], report["clawed_back_after_close"]) == (
        170_000,
        30_000,
        late,
    )
    assert (report["returned"], report["balance"], report["balanced"]) == (returned, 0, True)
    assert report["to_fiscal"] == returned + late
    assert report["budget"] - report["paid"] + report["clawed_back"] - report["returned"] == 0
    assert report["subsidy"] == 170_000 - 30_000 - late == 60_000  # only c's 600 stays paid
    types = {t["code"]: t for t in report["types"]}
    assert {
        code: (t["clawed_back"], t["clawed_back_after_close"]) for code, t in types.items()
    } == {
        "8000-600": (0, 0),
        "5000-500": (0, 50_000),
        "2000-300": (30_000, 30_000),
    }
    assert types["2000-300"]["subsidy"] == 0 and types["2000-300"]["refunded"] == 2
    merchants = {m["code"]: m for m in report["merchants"]}
    assert {
        code: (m["clawed_back"], m["clawed_back_after_close"]) for code, m in merchants.items()
    } == {
        "liqun": (30_000, 30_000),
        "suning": (0, 50_000),
    }
    # per type and per merchant, the figures add up to the campaign's, to the fen
    for key, total in (
        ("discount_paid", report["paid"]),
        ("clawed_back", report["clawed_back"]),
        ("clawed_back_after_close", late),
        ("subsidy", report["subsidy"]),
    ):
        assert sum(t[key] for t in report["types"]) == total
        assert sum(m[key] for m in report["merchants"]) == total
    # the fiscal account got the unspent budget and the late clawbacks, nothing else
    now = _ledger(vouchers)
    assert now.fiscal_credits - fiscal_before.fiscal_credits == returned + late
    assert now.budget == 0 and vouchers.owed_to("suning") == 0 and now.liqun == 60_000
    _ledger_sound(vouchers)
    printed = ykt("voucher", "report", CODE)
    assert printed.exit_code == 0, printed.output
    assert f"clawed back after close-out → fiscal {late // 100}.00" in printed.output
    assert "subsidy 600.00 yuan" in printed.output


def test_the_refund_command_after_the_close_out_says_the_discount_went_to_the_fiscal_account(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock, ykt: Ykt
) -> None:
    vouchers.campaign()
    voucher = vouchers.redeemed(client, vouchers.resident(), "5000-500", "6000", "L-1")
    _closed(vouchers, client, auth, fixed_clock)
    args = ("voucher", "refund", "--terminal", "POS-LIQUN", "--voucher", voucher.code)
    made = ykt(*args, "--order", "L-1", "--ref", "R-1", "--amount", "6000")
    assert made.exit_code == 0, made.output
    assert "hand back 5500.00 yuan" in made.output
    assert "discount 500.00 clawed back to the fiscal account" in made.output
    assert ykt(*args, "--order", "L-1", "--ref", "R-1", "--amount", "5000").exit_code == 4
    assert _ledger(vouchers).liqun == 0 and vouchers.budget() == 0
