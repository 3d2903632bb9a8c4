"""Claiming (领券): the 10:00 release, the daily quota, once per type per week, 24 h validity,
reclaiming of unused vouchers (by the job and lazily) back into the quota."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.vouchers.conftest import CODE, Vouchers, local
from yikatong.core import clock
from yikatong.core.errors import Conflict, NotFound
from yikatong.vouchers import service
from yikatong.vouchers.models import Voucher, VoucherState

Auth = Callable[..., dict[str, str]]
CLAIM = f"/api/v1/vouchers/campaigns/{CODE}/claims"


def test_a_resident_claims_a_voucher_valid_for_24_hours(
    vouchers: Vouchers, client: TestClient, auth: Auth
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    response = client.post(
        CLAIM, json={"type": "8000-600"}, headers=auth("resident", resident_id=rider.resident_id)
    )
    assert response.status_code == 201, response.text
    voucher = response.json()
    assert (voucher["type"], voucher["threshold"], voucher["discount"]) == (
        "8000-600",
        800_000,
        60_000,
    )
    assert voucher["state"] == "claimed"
    claimed = dt.datetime.fromisoformat(voucher["claimed_at"])
    assert dt.datetime.fromisoformat(voucher["expires_at"]) - claimed == dt.timedelta(hours=24)
    assert vouchers.release("8000-600", 10) == (2, 0, 1)


def test_nothing_is_released_before_10_oclock_beijing_time(
    vouchers: Vouchers, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    fixed_clock.set(local(10, 9, 59))
    with pytest.raises(Conflict, match="10:00"):
        vouchers.claim(rider, "8000-600")
    fixed_clock.set(local(10, 10, 0))
    assert vouchers.claim(rider, "8000-600").state is VoucherState.CLAIMED


def test_no_release_outside_the_campaign_days(
    vouchers: Vouchers, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    fixed_clock.set(local(21, 12))
    with pytest.raises(Conflict, match="no release today"):
        vouchers.claim(vouchers.resident(), "8000-600")


def test_the_daily_quota_is_never_exceeded(vouchers: Vouchers) -> None:
    vouchers.campaign()
    first, second, third = vouchers.resident(), vouchers.resident(), vouchers.resident()
    vouchers.claim(first, "2000-300")
    vouchers.claim(second, "2000-300")
    with pytest.raises(Conflict, match="all claimed"):
        vouchers.claim(third, "2000-300")
    vouchers.claim(third, "5000-500")  # another type has its own quota
    assert vouchers.release("2000-300", 10) == (2, 0, 2)


def test_each_type_once_per_person_per_week(
    vouchers: Vouchers, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    vouchers.claim(rider, "8000-600")
    vouchers.claim(rider, "5000-500")  # each type once a week
    fixed_clock.set(local(16, 12))  # Sunday: still week 11
    with pytest.raises(Conflict, match="once a week"):
        vouchers.claim(rider, "8000-600")
    fixed_clock.set(local(17, 10))  # Monday: week 12
    assert vouchers.claim(rider, "8000-600").week == "2025-W12"


def test_unknown_campaign_or_type_and_deceased_residents_are_refused(vouchers: Vouchers) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    with pytest.raises(NotFound), vouchers.node.transaction() as session:
        service.claim_voucher(session, "nope", "8000-600", rider.resident_id)
    with pytest.raises(NotFound, match="8000-600"), vouchers.node.transaction() as session:
        service.claim_voucher(session, CODE, "9000-100", rider.resident_id)


def test_unused_vouchers_are_reclaimed_and_released_again(
    vouchers: Vouchers, fixed_clock: clock.FixedClock, ykt: Ykt
) -> None:
    vouchers.campaign()
    a, b, c, d, e, f = (vouchers.resident() for _ in range(6))
    vouchers.claim(a, "2000-300")
    vouchers.claim(b, "2000-300")
    fixed_clock.set(local(11, 10, 0))  # 24 h later: both expired, unused
    result = ykt("voucher", "reclaim")
    assert result.exit_code == 0 and "2 expired vouchers reclaimed" in result.output
    assert vouchers.release("2000-300", 11) == (2, 2, 0)  # slots added to today's release
    for rider in (c, d, e):
        vouchers.claim(rider, "2000-300")
    assert vouchers.release("2000-300", 11) == (2, 2, 3)
    # An expired voucher still counts for its week.
    with pytest.raises(Conflict, match="once a week"):
        vouchers.claim(a, "2000-300")
    vouchers.claim(f, "2000-300")  # the fourth slot: 2 of the day + 2 returned
    with pytest.raises(Conflict, match="all claimed"):
        vouchers.claim(vouchers.resident(), "2000-300")
    with vouchers.node.transaction() as session:
        states = dict(
            session.execute(select(Voucher.state, func.count()).group_by(Voucher.state)).all()
        )
    assert states == {VoucherState.EXPIRED: 2, VoucherState.CLAIMED: 4}
    assert ykt("voucher", "reclaim").output.strip().endswith("0 expired vouchers reclaimed")


def test_a_claim_reclaims_expired_vouchers_of_its_type_lazily(
    vouchers: Vouchers, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    a, b, c = vouchers.resident(), vouchers.resident(), vouchers.resident()
    vouchers.claim(a, "2000-300")
    vouchers.claim(b, "2000-300")
    fixed_clock.set(local(11, 9, 0))  # before today's release, still valid: nothing reclaimed
    fixed_clock.set(local(11, 10, 30))
    vouchers.claim(c, "2000-300")
    assert vouchers.release("2000-300", 11) == (2, 2, 1)
    with vouchers.node.transaction() as session:
        held = {
            v.resident_id: v.state
            for v, _t, _c in service.vouchers_of_resident(session, a.resident_id)
        }
    assert held == {a.resident_id: VoucherState.EXPIRED}


def test_my_vouchers_show_the_state_as_of_now(
    vouchers: Vouchers, client: TestClient, auth: Auth, fixed_clock: clock.FixedClock
) -> None:
    vouchers.campaign()
    rider, other = vouchers.resident(), vouchers.resident()
    vouchers.claim(rider, "8000-600")
    headers = auth("resident", resident_id=rider.resident_id)
    assert [v["state"] for v in client.get("/api/v1/vouchers/mine", headers=headers).json()] == [
        "claimed"
    ]
    fixed_clock.advance(hours=25)  # the job has not run: still shown expired
    headers = auth("resident", resident_id=rider.resident_id)  # a fresh sign-in
    assert [v["state"] for v in client.get("/api/v1/vouchers/mine", headers=headers).json()] == [
        "expired"
    ]
    peek = client.get(
        "/api/v1/vouchers/mine",
        params={"resident_id": rider.resident_id},
        headers=auth("resident", resident_id=other.resident_id),
    )
    assert peek.status_code == 403
    staff = client.get(
        "/api/v1/vouchers/mine", params={"resident_id": rider.resident_id}, headers=auth("clerk")
    )
    assert len(staff.json()) == 1


def test_bad_claims_over_http_are_refused_and_change_nothing(
    vouchers: Vouchers, client: TestClient, auth: Auth
) -> None:
    vouchers.campaign()
    rider = vouchers.resident()
    headers = auth("resident", resident_id=rider.resident_id)
    assert client.post(CLAIM, json={"type": ""}, headers=headers).status_code == 422
    assert client.post(CLAIM, json={}, headers=headers).status_code == 422
    assert client.post(CLAIM, json={"type": "1-0"}, headers=headers).status_code == 404
    assert (
        client.post(
            "/api/v1/vouchers/campaigns/NOPE!/claims", json={"type": "8000-600"}, headers=headers
        ).status_code
        == 422
    )
    assert client.post(CLAIM, json={"type": "8000-600"}, headers=auth("clerk")).status_code == 403
    assert client.post(CLAIM, json={"type": "8000-600"}).status_code == 401
    client.post(CLAIM, json={"type": "8000-600"}, headers=headers)
    again = client.post(CLAIM, json={"type": "8000-600"}, headers=headers)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert vouchers.release("8000-600", 10) == (2, 0, 1)
    listed = client.get("/api/v1/vouchers/campaigns", headers=headers).json()
    assert {t["code"]: t["left_today"] for t in listed[0]["types"]} == {
        "8000-600": 1,
        "5000-500": 2,
        "2000-300": 2,
    }
