"""Staff face of vouchers: creating campaigns (HTTP and ``ykt voucher``), refusing campaigns
whose quotas could cost more than the budget, and the campaign report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.vouchers.conftest import CODE, Vouchers, local
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.vouchers.models import VoucherCampaign, VoucherRelease

Auth = Callable[..., dict[str, str]]
CAMPAIGNS = "/api/v1/vouchers/campaigns"


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "qd-2025",
        "name": "青岛家电消费券",
        "starts_on": "2025-03-10",
        "ends_on": "2025-04-21",  # 43 days, as seed 002's 9/19–10/31
        "budget": "10000000",  # seed 002: 1000万元
        "funding_reference": "青商务-2025-7",
        "types": [
            {"threshold": "8000", "discount": "600", "daily_quota": 100},
            {"threshold": "5000", "discount": "500", "daily_quota": 150},
            {"threshold": "2000", "discount": "300", "daily_quota": 300},
        ],
        "merchants": ["liqun"],
    }
    body.update(changes)
    return body


def test_an_admin_creates_the_seed_campaign_with_43_daily_releases(
    vouchers: Vouchers, client: TestClient, auth: Auth
) -> None:
    vouchers.kit.merchant("liqun", "shop", "利群集团")
    made = client.post(CAMPAIGNS, json=_body(), headers=auth("admin"))
    assert made.status_code == 201, made.text
    campaign = made.json()
    assert (campaign["release_time"], campaign["valid_hours"]) == ("10:00:00", 24)
    assert (campaign["redeem_from"], campaign["redeem_until"]) == ("09:00:00", "22:00:00")
    assert [t["code"] for t in campaign["types"]] == ["8000-600", "5000-500", "2000-300"]
    with vouchers.node.transaction() as session:
        assert session.scalar(select(func.count(VoucherRelease.id))) == 43 * 3
        budget = ledger.get_account_by_code(session, "voucher:qd-2025:budget")
        assert budget.balance == 1_000_000_000
    duplicate = client.post(CAMPAIGNS, json=_body(), headers=auth("admin"))
    assert duplicate.status_code == 409


def test_bad_campaigns_are_refused_and_nothing_is_created(
    vouchers: Vouchers, client: TestClient, auth: Auth
) -> None:
    vouchers.kit.merchant("liqun", "shop", "利群集团")
    vouchers.kit.merchant("qd-bus", "bus", "公交")
    admin = auth("admin")
    over = _body(types=[{"threshold": "8000", "discount": "600", "daily_quota": 1000}])
    too_dear = client.post(CAMPAIGNS, json=over, headers=admin)
    assert too_dear.status_code == 422 and "budget" in too_dear.json()["detail"]
    for changes, status in (
        ({"types": [{"threshold": "500", "discount": "600", "daily_quota": 1}]}, 422),
        ({"types": [{"threshold": "500", "discount": "0", "daily_quota": 1}]}, 422),
        ({"types": [{"threshold": "500", "discount": "50", "daily_quota": 0}]}, 422),
        ({"types": []}, 422),
        ({"ends_on": "2025-03-01"}, 422),
        ({"starts_on": "2025-01-01", "ends_on": "2025-03-01"}, 422),
        ({"budget": "-1"}, 422),
        ({"budget": "1.001"}, 422),
        ({"merchants": []}, 422),
        ({"merchants": ["qd-bus"]}, 422),
        ({"merchants": ["nobody"]}, 404),
        ({"code": "BAD CODE"}, 422),
        ({"redeem_from": "22:00", "redeem_until": "09:00"}, 422),
        ({"valid_hours": 0}, 422),
        ({"funding_reference": "has spaces in it"}, 422),
    ):
        response = client.post(CAMPAIGNS, json=_body(**changes), headers=admin)
        assert response.status_code == status, (changes, response.text)
    assert client.post(CAMPAIGNS, json=_body(), headers=auth("clerk")).status_code == 403
    with vouchers.node.transaction() as session:
        assert session.scalar(select(func.count(VoucherCampaign.id))) == 0
        assert session.scalar(select(func.count(VoucherRelease.id))) == 0


def test_the_campaign_report_counts_claims_redemptions_reclaims_and_money(
    vouchers: Vouchers, client: TestClient, auth: Auth, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    a, b = vouchers.resident(), vouchers.resident()
    used = vouchers.claim(a, "2000-300")
    vouchers.claim(b, "2000-300")
    vouchers.claim(a, "8000-600")
    assert (
        vouchers.redeem(client, a, "2100", order="POS-1", voucher_code=used.code).status_code == 200
    )
    fixed_clock.set(local(11, 11, 0))
    client.post("/api/v1/vouchers/reclaim", headers=auth("admin"))
    report = client.get(f"{CAMPAIGNS}/{CODE}/report", headers=auth("auditor")).json()
    rows = {t["code"]: t for t in report["types"]}
    small = rows["2000-300"]
    assert (small["releases_opened"], small["released"], small["returned"]) == (2, 4, 1)
    assert (small["claimed"], small["redeemed"], small["expired"], small["outstanding"]) == (
        2,
        1,
        1,
        0,
    )
    assert small["discount_paid"] == 30_000
    assert rows["8000-600"]["expired"] == 1
    assert (report["paid"], report["balance"]) == (30_000, report["budget"] - 30_000)
    assert report["merchants"] == [
        {
            "code": "liqun",
            "name": "利群集团",
            "redemptions": 1,
            "order_total": 210_000,
            "discount_paid": 30_000,
            "refunds": 0,
            "refunded_amount": 0,
            "vouchers_refunded": 0,
            "clawed_back": 0,
            "clawed_back_after_close": 0,
            "subsidy": 30_000,
        }
    ]
    assert client.get(f"{CAMPAIGNS}/nope/report", headers=auth("auditor")).status_code == 404
    assert (
        client.get(
            f"{CAMPAIGNS}/{CODE}/report", headers=auth("resident", resident_id=a.resident_id)
        ).status_code
        == 403
    )


def test_the_voucher_commands(vouchers: Vouchers, ykt: Ykt) -> None:
    vouchers.kit.merchant("liqun", "shop", "利群集团")
    vouchers.kit.merchant("suning", "shop", "苏宁易购")
    args = (
        "voucher", "create", "qd-2025", "--name", "家电消费券", "--from", "2025-03-10",
        "--to", "2025-03-16", "--budget", "100000", "--reference", "r-1",
        "--type", "8000-600x10", "--type", "2000-300x20", "--merchant", "liqun",
    )  # fmt: skip
    made = ykt(*args)
    assert made.exit_code == 0, made.output
    assert "qd-2025" in ykt("voucher", "campaigns").output
    assert ykt("voucher", "add-merchant", "qd-2025", "--merchant", "suning").exit_code == 0
    assert ykt("voucher", "add-merchant", "qd-2025", "--merchant", "suning").exit_code == 4
    rider = vouchers.resident()
    claimed = ykt(
        "voucher", "claim", "qd-2025", "--type", "8000-600", "--resident-id", str(rider.resident_id)
    )
    assert claimed.exit_code == 0, claimed.output
    again = ykt(
        "voucher", "claim", "qd-2025", "--type", "8000-600", "--resident-id", str(rider.resident_id)
    )
    assert again.exit_code == 4
    assert "8000-600" in ykt("voucher", "mine", str(rider.resident_id)).output
    report = ykt("voucher", "report", "qd-2025")
    assert report.exit_code == 0 and "budget 100000.00" in report.output
    bad_type = ykt(*args[:-5], "--type", "8000/600", "--merchant", "liqun")
    assert bad_type.exit_code == 2
    bad_date = ykt("voucher", "create", "x-1", "--name", "x", "--from", "10.3.2025", "--to", "2025-03-16",
                   "--budget", "1", "--reference", "r", "--type", "2-1x1", "--merchant", "liqun")  # fmt: skip
    assert bad_date.exit_code == 2
