"""Staff and resident faces of canteens: canteens, budgets, struggling status, reports, my meals
(HTTP and ``ykt canteen``); bad input is refused with nothing changed."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Ykt
from tests.integration.canteens.conftest import AGED_65, AGED_75, SHIBEI, SHINAN, Canteens
from yikatong.acquiring import service as acquiring
from yikatong.canteens.models import Canteen, StrugglingStatus
from yikatong.core import clock

Auth = Callable[..., dict[str, str]]


def test_staff_register_canteens_and_fund_district_budgets(
    canteens: Canteens, client: TestClient, auth: Auth
) -> None:
    admin = auth("admin")
    made = client.post(
        "/api/v1/canteens",
        json={
            "code": "sn-yanan",
            "name": "延安路长者食堂",
            "district": SHINAN,
            "address": "延安路",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    with canteens.node.transaction() as session:
        merchant = acquiring.get_merchant(session, "sn-yanan")
        assert merchant.kind is acquiring.MerchantKind.CANTEEN
    funded = client.post(
        f"/api/v1/canteens/budgets/{SHINAN}/funding",
        json={"amount": "200000", "reference": "青民拨〔2025〕12号"},
        headers=admin,
    )
    assert funded.status_code == 200 and funded.json()["balance"] == 20_000_000
    # The same appropriation sent twice is credited once.
    again = client.post(
        f"/api/v1/canteens/budgets/{SHINAN}/funding",
        json={"amount": "200000", "reference": "青民拨〔2025〕12号"},
        headers=admin,
    )
    assert again.json()["balance"] == 20_000_000
    listed = client.get(
        "/api/v1/canteens", params={"district": SHINAN}, headers=auth("resident", resident_id=1)
    )
    assert [c["code"] for c in listed.json()] == ["sn-yanan"]
    budgets = client.get("/api/v1/canteens/budgets", headers=auth("auditor"))
    assert budgets.json() == [
        {
            "district": SHINAN,
            "account": f"canteen:budget:{SHINAN}",
            "funded": 20_000_000,
            "granted": 0,
            "balance": 20_000_000,
        }
    ]


def test_bad_staff_input_is_refused_and_changes_nothing(
    canteens: Canteens, client: TestClient, auth: Auth
) -> None:
    admin = auth("admin")
    canteens.kit.merchant("qd-shop", "shop")
    for body, status in (
        ({"code": "X!", "name": "a", "district": SHINAN}, 422),
        ({"code": "sn-a", "name": "a", "district": "110105"}, 422),  # not this city
        ({"code": "sn-a", "name": "a", "district": "3702"}, 422),
        ({"code": "sn-a", "name": "", "district": SHINAN}, 422),
        ({"code": "sn-a", "name": "a", "district": SHINAN, "merchant": "qd-shop"}, 409),
        ({"code": "sn-a", "name": "a", "district": SHINAN, "merchant": "nope"}, 404),
    ):
        response = client.post("/api/v1/canteens", json=body, headers=admin)
        assert response.status_code == status, (body, response.text)
    clerk = client.post(
        "/api/v1/canteens",
        json={"code": "sn-a", "name": "a", "district": SHINAN},
        headers=auth("clerk"),
    )
    assert clerk.status_code == 403
    for district, body in (
        (SHINAN, {"amount": "-1", "reference": "r1"}),
        (SHINAN, {"amount": "0", "reference": "r1"}),
        (SHINAN, {"amount": "10", "reference": "bad ref with spaces"}),
        ("370299x", {"amount": "10", "reference": "r1"}),
        ("110105", {"amount": "10", "reference": "r1"}),
    ):
        response = client.post(
            f"/api/v1/canteens/budgets/{district}/funding", json=body, headers=admin
        )
        assert response.status_code == 422, (district, body)
    with canteens.node.transaction() as session:
        assert session.scalar(select(func.count(Canteen.id))) == 0
    assert client.get("/api/v1/canteens/budgets", headers=admin).json() == []


def test_struggling_status_is_recorded_and_revoked_by_clerks(
    canteens: Canteens, client: TestClient, auth: Auth
) -> None:
    diner = canteens.diner(AGED_65)
    clerk = auth("clerk")
    body = {"resident_id": diner.resident_id, "reference": "低保证0012", "valid_from": "2025-01-01"}
    made = client.post("/api/v1/canteens/struggling", json=body, headers=clerk)
    assert made.status_code == 201
    overlap = client.post("/api/v1/canteens/struggling", json=body, headers=clerk)
    assert overlap.status_code == 409
    entitled = client.get(
        "/api/v1/canteens/my/entitlement",
        params={"district": SHIBEI},
        headers=auth("resident", resident_id=diner.resident_id),
    )
    assert entitled.json()["category"] == "struggling-60" and entitled.json()["left"] == 1400
    for bad in (
        {**body, "valid_from": "2025-02-01", "valid_until": "2025-01-01"},
        {**body, "reference": ""},
        {**body, "resident_id": 0},
    ):
        assert (
            client.post("/api/v1/canteens/struggling", json=bad, headers=clerk).status_code == 422
        )
    missing = client.post(
        "/api/v1/canteens/struggling", json={**body, "resident_id": 999_999}, headers=clerk
    )
    assert missing.status_code == 404
    assert (
        client.post("/api/v1/canteens/struggling", json=body, headers=auth("auditor")).status_code
        == 403
    )
    record = made.json()["id"]
    revoked = client.post(
        f"/api/v1/canteens/struggling/{record}/revocation",
        json={"reason": "moved away"},
        headers=clerk,
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    twice = client.post(
        f"/api/v1/canteens/struggling/{record}/revocation", json={"reason": "again"}, headers=clerk
    )
    assert twice.status_code == 409
    listed = client.get(
        "/api/v1/canteens/struggling",
        params={"resident_id": diner.resident_id},
        headers=auth("auditor"),
    )
    assert len(listed.json()) == 1
    with canteens.node.transaction() as session:
        assert session.scalar(select(func.count(StrugglingStatus.id))) == 1


def test_residents_see_their_own_meals_only(
    canteens: Canteens, client: TestClient, auth: Auth
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner, other = canteens.diner(AGED_75), canteens.diner(AGED_75)
    canteens.meal(client, till, diner, "15.00")
    mine = client.get(
        "/api/v1/canteens/my/meals", headers=auth("resident", resident_id=diner.resident_id)
    )
    assert [(m["canteen"], m["subsidy"], m["paid"]) for m in mine.json()] == [
        ("sn-yanan", 600, 900)
    ]
    peek = client.get(
        "/api/v1/canteens/my/meals",
        params={"resident_id": diner.resident_id},
        headers=auth("resident", resident_id=other.resident_id),
    )
    assert peek.status_code == 403
    staff = client.get(
        "/api/v1/canteens/my/meals",
        params={"resident_id": diner.resident_id},
        headers=auth("clerk"),
    )
    assert len(staff.json()) == 1
    assert client.get("/api/v1/canteens/my/meals", headers=auth("clerk")).status_code == 422
    assert client.get("/api/v1/canteens/my/meals").status_code == 401


def test_reports_of_subsidies_by_canteen_district_and_month(
    canteens: Canteens, client: TestClient, auth: Auth, fixed_clock: clock.FixedClock
) -> None:
    shinan = canteens.canteen("sn-yanan", SHINAN)
    shibei = canteens.canteen("sb-taidong", SHIBEI)
    first, second = canteens.diner(AGED_75), canteens.diner(AGED_75)
    canteens.meal(client, shinan, first, "15.00")  # 600 subsidy
    canteens.meal(client, shibei, second, "12.00")  # 500
    reversed_meal = canteens.meal(client, shibei, first, "12.00", seq=900)  # 0 left: not counted
    client.post(
        f"/api/v1/canteens/meals/{reversed_meal['meal_id']}/reversal",
        json={"reason": "test"},
        headers=auth("clerk"),
    )
    fixed_clock.advance(days=30)  # 2025-04-09
    canteens.meal(client, shinan, second, "10.00")  # 600
    report = client.get("/api/v1/canteens/reports/subsidies", headers=auth("auditor")).json()
    assert [
        (r["month"], r["canteen"], r["meals"], r["subsidy"], r["paid"])
        for r in report["by_canteen"]
    ] == [
        ("2025-03", "sn-yanan", 1, 600, 900),
        ("2025-03", "sb-taidong", 1, 500, 700),
        ("2025-04", "sn-yanan", 1, 600, 400),
    ]
    assert [(r["month"], r["district"], r["subsidy"]) for r in report["by_district"]] == [
        ("2025-03", SHINAN, 600),
        ("2025-03", SHIBEI, 500),
        ("2025-04", SHINAN, 600),
    ]
    assert [(r["month"], r["meals"], r["subsidy"]) for r in report["by_month"]] == [
        ("2025-03", 2, 1100),
        ("2025-04", 1, 600),
    ]
    april = client.get(
        "/api/v1/canteens/reports/subsidies",
        params={"from": "2025-04", "district": SHINAN},
        headers=auth("clerk"),
    ).json()
    assert [r["subsidy"] for r in april["by_month"]] == [600]
    for params in ({"from": "2025-13"}, {"from": "2025-04", "to": "2025-03"}, {"district": "12"}):
        bad = client.get("/api/v1/canteens/reports/subsidies", params=params, headers=auth("clerk"))
        assert bad.status_code == 422, params
    forbidden = client.get(
        "/api/v1/canteens/reports/subsidies",
        headers=auth("resident", resident_id=first.resident_id),
    )
    assert forbidden.status_code == 403


def test_the_canteen_commands(canteens: Canteens, ykt: Ykt, client: TestClient) -> None:
    added = ykt("canteen", "add", "sn-yanan", "--name", "延安路长者食堂", "--district", SHINAN)
    assert added.exit_code == 0, added.output
    assert ykt("canteen", "add", "sn-yanan", "--name", "x", "--district", SHINAN).exit_code == 4
    assert ykt("canteen", "add", "sn-b", "--name", "x", "--district", "1").exit_code == 2
    funded = ykt("canteen", "fund", SHINAN, "--amount", "1000", "--reference", "r-1")
    assert funded.exit_code == 0, funded.output
    assert ykt("canteen", "fund", SHINAN, "--amount", "abc", "--reference", "r-2").exit_code == 2
    budgets = ykt("canteen", "budgets")
    assert "1000.00" in budgets.output
    assert "sn-yanan" in ykt("canteen", "list").output
    diner = canteens.diner(AGED_65)
    marked = ykt(
        "canteen",
        "struggling",
        str(diner.resident_id),
        "--reference",
        "低保证1",
        "--from",
        "2025-01-01",
    )
    assert marked.exit_code == 0, marked.output
    assert (
        ykt("canteen", "struggling", "1", "--reference", "r", "--from", "01/01/2025").exit_code == 2
    )
    entitled = ykt("canteen", "entitlement", str(diner.resident_id), "--district", SHINAN, "--demo")
    assert entitled.exit_code == 0, entitled.output
    assert "left 14.00 yuan" in entitled.output
    till = canteens.kit.device("TILL-SN-YANAN", "sn-yanan")
    meal = canteens.meal(client, till, diner, "16.00")
    assert (meal["subsidy"], meal["paid"]) == (1400, 200)
    assert "14.00" in ykt("canteen", "meals", str(diner.resident_id)).output
    assert "by district" in ykt("canteen", "report", "--from", "2025-03").output
    reversed_ = ykt("canteen", "reverse", str(meal["meal_id"]), "--reason", "refund")
    assert reversed_.exit_code == 0, reversed_.output
    assert ykt("canteen", "reverse", str(meal["meal_id"]), "--reason", "again").exit_code == 4
    assert canteens.card_balance(diner) == 10_000
    assert canteens.budget(SHINAN) == 100_000
