"""Close-out (活动结算): after the last day and once no claimed voucher is still valid, the unspent
budget goes back to the city, the budget account ends at 0, and the campaign refuses claims and
redemptions (returns are still refunded, see test_refunds_after_close); closing twice changes
nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.vouchers.conftest import BUDGET, CODE, Vouchers, local
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.ledger.models import Transfer
from yikatong.vouchers import service

CLOSE = f"/api/v1/vouchers/campaigns/{CODE}/close"
REPORT = f"/api/v1/vouchers/campaigns/{CODE}/report"


def _transfers(vouchers: Vouchers) -> int:
    with vouchers.node.transaction() as session:
        return int(session.scalar(select(func.count(Transfer.id))) or 0)


def _fiscal(vouchers: Vouchers) -> tuple[int, int]:
    with vouchers.node.transaction() as session:
        account = ledger.get_account_by_code(session, service.FISCAL_ACCOUNT_CODE)
        return account.debits_posted, account.credits_posted


def _a_month_of_business(vouchers: Vouchers, client: TestClient) -> dict[str, Any]:
    """Two redemptions kept (one partly returned), one fully refunded, one left to expire."""
    vouchers.campaign()
    vouchers.kit.merchant("suning", "shop", "苏宁易购")
    with vouchers.node.transaction() as session:
        service.add_merchant(session, CODE, "suning")
    suning = vouchers.kit.device("POS-SUNING", "suning")
    a, b, c = vouchers.resident(), vouchers.resident(), vouchers.resident()
    big = vouchers.claim(a, "8000-600")
    mid = vouchers.claim(b, "5000-500")
    small = vouchers.claim(c, "2000-300")
    vouchers.claim(a, "2000-300")  # never used: reclaimed
    assert vouchers.redeem(client, a, "9000", order="L-1", voucher_code=big.code).status_code == 200
    assert (
        vouchers.redeem(client, b, "5200", order="S-1", voucher_code=mid.code, device=suning)
    ).status_code == 200
    assert (
        vouchers.redeem(client, c, "2100", order="L-2", voucher_code=small.code).status_code == 200
    )
    assert vouchers.refund(client, big.code, "500", order="L-1", ref="R-1").status_code == 200
    refunded = vouchers.refund(client, small.code, "2100", order="L-2", ref="R-2")
    assert refunded.status_code == 200
    return {
        "big": big,
        "c": c,
        "reinstated": refunded.json()["reinstated_voucher"],
    }


def test_the_close_out_returns_the_unspent_budget_and_the_report_balances(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    _a_month_of_business(vouchers, client)
    fiscal_before = _fiscal(vouchers)
    fixed_clock.set(local(21, 9, 0))
    response = client.post(CLOSE, headers=auth("admin", subject="admin-close"))
    assert response.status_code == 200, response.text
    report = response.json()
    paid, clawed = 60_000 + 50_000 + 30_000, 30_000
    assert (report["budget"], report["paid"], report["clawed_back"]) == (BUDGET, paid, clawed)
    assert report["subsidy"] == 80_000 + 30_000  # 600 + 500 kept; the 300 came back
    assert report["returned"] == BUDGET - paid + clawed
    assert (report["balance"], report["balanced"]) == (0, True)
    assert report["closed_by"] == "admin-close" and report["closed_at"] is not None
    types = {t["code"]: t for t in report["types"]}
    assert {c: (t["redeemed"], t["refunded"], t["expired"]) for c, t in types.items()} == {
        "8000-600": (1, 0, 0),
        "5000-500": (1, 0, 0),
        "2000-300": (1, 1, 2),  # a's unused one and c's reinstated one expired
    }
    assert all(t["outstanding"] == 0 for t in report["types"])
    merchants = {m["code"]: m for m in report["merchants"]}
    assert (merchants["liqun"]["subsidy"], merchants["suning"]["subsidy"]) == (60_000, 50_000)
    assert merchants["liqun"]["refunded_amount"] == 50_000 + 210_000
    # per type and per merchant, the figures add up to the campaign's, to the fen
    for key in ("discount_paid", "clawed_back", "subsidy"):
        assert sum(t[key] for t in report["types"]) == sum(m[key] for m in report["merchants"])
    assert sum(t["subsidy"] for t in report["types"]) == report["subsidy"]
    assert report["budget"] - report["subsidy"] - report["returned"] == report["balance"] == 0
    # the ledger agrees: the budget account is empty and the city got the rest back
    assert vouchers.budget() == 0
    assert vouchers.owed_to("liqun") == 60_000 and vouchers.owed_to("suning") == 50_000
    debits, credits = _fiscal(vouchers)
    assert (debits, credits - fiscal_before[1]) == (fiscal_before[0], report["returned"])
    with vouchers.node.transaction() as session:
        budget = ledger.get_account_by_code(session, f"voucher:{CODE}:budget")
        assert (budget.credits_posted, budget.debits_posted) == (
            BUDGET + clawed,
            paid + report["returned"],
        )
        assert ledger.verify(session) == []
        assert ledger.trial_balance(session).balanced
    assert client.get(REPORT, headers=auth("auditor")).json() == report


def test_the_close_out_is_refused_before_the_end_and_while_vouchers_are_valid(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    transfers = _transfers(vouchers)
    early = client.post(CLOSE, headers=auth("admin"))
    assert early.status_code == 409 and "2025-03-21" in early.json()["detail"]
    fixed_clock.set(local(20, 23, 0))  # the last day
    assert client.post(CLOSE, headers=auth("admin")).status_code == 409
    fixed_clock.set(local(20, 12, 0))
    rider = vouchers.resident()
    vouchers.claim(rider, "2000-300")  # valid until 03-21 12:00
    fixed_clock.set(local(21, 9, 0))
    valid = client.post(CLOSE, headers=auth("admin"))
    assert valid.status_code == 409
    assert "still valid" in valid.json()["detail"] and valid.json()["valid_vouchers"] == 1
    assert client.post(CLOSE, headers=auth("clerk")).status_code == 403
    nope = client.post("/api/v1/vouchers/campaigns/nope/close", headers=auth("admin"))
    assert nope.status_code == 404
    assert _transfers(vouchers) == transfers and vouchers.budget() == BUDGET
    fixed_clock.set(local(21, 12, 0))  # expired now: reclaimed by the close-out itself
    closed = client.post(CLOSE, headers=auth("admin"))
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["returned"], body["balance"], body["paid"]) == (BUDGET, 0, 0)
    assert next(t for t in body["types"] if t["code"] == "2000-300")["expired"] == 1


def test_closing_twice_changes_nothing(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    _a_month_of_business(vouchers, client)
    fixed_clock.set(local(22, 9, 0))
    first = client.post(CLOSE, headers=auth("admin", subject="first"))
    assert first.status_code == 200
    transfers, fiscal = _transfers(vouchers), _fiscal(vouchers)
    fixed_clock.set(local(23, 9, 0))
    second = client.post(CLOSE, headers=auth("admin", subject="second"))
    assert second.status_code == 200
    assert second.json() == first.json()  # closed_by and closed_at stay the first's
    with vouchers.node.transaction() as session:
        assert service.close_campaign(session, CODE, actor="third").closed_by == "first"
    assert (_transfers(vouchers), _fiscal(vouchers), vouchers.budget()) == (transfers, fiscal, 0)


def test_after_the_close_out_claims_and_redemptions_are_refused_but_returns_are_refunded(
    vouchers: Vouchers, client: TestClient, auth: Any, fixed_clock: clock.FixedClock
) -> None:
    business = _a_month_of_business(vouchers, client)
    fixed_clock.set(local(21, 11, 0))
    assert client.post(CLOSE, headers=auth("admin")).status_code == 200
    transfers = _transfers(vouchers)
    rider = vouchers.resident()
    claim = client.post(
        f"/api/v1/vouchers/campaigns/{CODE}/claims",
        json={"type": "2000-300"},
        headers=auth("resident", resident_id=rider.resident_id),
    )
    assert claim.status_code == 409 and "closed" in claim.json()["detail"]
    # c's reinstated voucher was reclaimed at the close-out; using it is refused as closed
    late = vouchers.redeem(
        client, business["c"], "3000", order="L-9", voucher_code=business["reinstated"]["code"]
    )
    assert late.status_code == 409 and "was closed" in late.json()["detail"]
    assert _transfers(vouchers) == transfers
    # a refund retried after the close-out still answers what was done before it
    replay = vouchers.refund(client, business["big"].code, "500", order="L-1", ref="R-1")
    assert replay.status_code == 200 and replay.json()["clawback"] == 0
    assert _transfers(vouchers) == transfers
    # goods still come back: the discount goes to the fiscal account, the budget stays closed
    fiscal = _fiscal(vouchers)
    refund = vouchers.refund(client, business["big"].code, "8500", order="L-1", ref="R-9")
    assert refund.status_code == 200, refund.text
    assert (refund.json()["clawback"], refund.json()["clawback_to"]) == (60_000, "fiscal")
    assert _fiscal(vouchers) == (fiscal[0], fiscal[1] + 60_000)
    assert _transfers(vouchers) == transfers + 1 and vouchers.budget() == 0


def test_the_close_and_report_commands(
    vouchers: Vouchers, client: TestClient, ykt: Ykt, fixed_clock: clock.FixedClock
) -> None:
    _a_month_of_business(vouchers, client)
    early = ykt("voucher", "close", CODE)
    assert early.exit_code == 4 and "2025-03-21" in early.output
    fixed_clock.set(local(21, 11, 0))
    closed = ykt("voucher", "close", CODE, "--actor", "ops-1")
    assert closed.exit_code == 0, closed.output
    assert "returned 48900.00" in closed.output and "left 0.00 yuan" in closed.output
    assert "closed 2025-03-21" in closed.output and "by ops-1" in closed.output
    assert "clawed back" in closed.output and "suning" in closed.output
    report = ykt("voucher", "report", CODE)
    assert report.exit_code == 0 and "subsidy 1100.00 yuan" in report.output
    assert ykt("voucher", "close", CODE).exit_code == 0  # again: nothing more
    assert ykt("voucher", "close", "nope").exit_code == 3
    assert vouchers.budget() == 0
