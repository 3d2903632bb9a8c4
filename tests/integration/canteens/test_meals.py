"""The till: the subsidy is deducted, the card pays the rest, at most one day's entitlement per
resident across canteens, funded from the district budget, and reversals return everything."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.acquiring._kit import send
from tests.integration.canteens.conftest import (
    AGED_45,
    AGED_65,
    AGED_75,
    MEALS,
    SHIBEI,
    SHINAN,
    STAFF,
    Canteens,
)
from yikatong.acquiring import service as acquiring
from yikatong.canteens import service
from yikatong.canteens.models import DailyGrant, Meal
from yikatong.core import clock
from yikatong.essc import service as essc_service
from yikatong.ledger import service as ledger


def test_a_75_year_old_pays_the_meal_less_3_yuan_and_the_district_addon(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    meal = canteens.meal(client, till, diner, "15.00")
    # Shinan: 3 yuan (rule) + 3 yuan district add-on (illustrative) = 6 yuan a day.
    assert meal["decision"] == "approve"
    assert (meal["price"], meal["subsidy"], meal["paid"]) == (1500, 600, 900)
    assert meal["category"] == "aged-70" and meal["entitlement"] == 600
    assert canteens.card_balance(diner) == 10_000 - 900
    assert canteens.budget(SHINAN) == 1_000_000 - 600
    assert canteens.settlement("sn-yanan") == 600  # the subsidy is owed to the canteen
    with canteens.node.transaction() as session:
        assert ledger.verify(session) == []
        assert ledger.trial_balance(session).balanced


def test_the_day_entitlement_is_shared_by_every_canteen_and_renews_the_next_day(
    canteens: Canteens, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    shinan = canteens.canteen("sn-yanan", SHINAN)  # 6 yuan a day for 70+
    shibei = canteens.canteen("sb-taidong", SHIBEI)  # 5 yuan a day for 70+
    diner = canteens.diner(AGED_75)
    first = canteens.meal(client, shinan, diner, "4.00")
    assert first["subsidy"] == 400
    second = canteens.meal(client, shibei, diner, "10.00")
    assert second["subsidy"] == 100  # 5 yuan at Shibei less the 4 yuan granted today
    # Back at Shinan: its 6 yuan less the 5 granted; the day never exceeds the larger figure.
    third = canteens.meal(client, shinan, diner, "10.00")
    assert (third["subsidy"], third["paid"]) == (100, 900)
    fourth = canteens.meal(client, shibei, diner, "10.00")
    assert (fourth["subsidy"], fourth["paid"]) == (0, 1000)
    fixed_clock.advance(days=1)
    assert canteens.meal(client, shibei, diner, "10.00")["subsidy"] == 500
    with canteens.node.transaction() as session:
        assert session.get(DailyGrant, (diner.resident_id, dt.date(2025, 3, 10))).granted == 600
        assert session.get(DailyGrant, (diner.resident_id, dt.date(2025, 3, 11))).granted == 500


def test_a_struggling_65_year_old_gets_up_to_14_yuan_and_loses_it_when_revoked(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sb-taidong", SHIBEI)
    diner = canteens.diner(AGED_65)
    assert canteens.meal(client, till, diner, "12.00")["subsidy"] == 0  # 65, not struggling
    with canteens.node.transaction() as session:
        record = service.grant_struggling(
            session,
            diner.resident_id,
            reference="低保证0012",
            valid_from=dt.date(2025, 1, 1),
            valid_until=None,
            actor=STAFF,
        )
    covered = canteens.meal(client, till, diner, "12.00")
    # Wholly subsidised: nothing charged to the card, the tap approved at 0.
    assert (covered["subsidy"], covered["paid"], covered["category"]) == (1200, 0, "struggling-60")
    rest = canteens.meal(client, till, diner, "5.00")
    assert (rest["subsidy"], rest["paid"]) == (200, 300)
    with canteens.node.transaction() as session:
        service.revoke_struggling(session, record.id, reason="income above the line", actor=STAFF)
    assert canteens.meal(client, till, diner, "5.00")["subsidy"] == 0
    assert canteens.card_balance(diner) == 10_000 - 1200 - 300 - 500


def test_under_60_pays_the_full_price(canteens: Canteens, client: TestClient) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_45)
    meal = canteens.meal(client, till, diner, "15.00")
    assert (meal["subsidy"], meal["paid"], meal["category"]) == (0, 1500, None)
    assert canteens.budget(SHINAN) == 1_000_000


def test_a_short_budget_grants_what_is_left_under_the_partial_rule(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN, budget=250)
    first, second = canteens.diner(AGED_75), canteens.diner(AGED_75)
    meal = canteens.meal(client, till, first, "15.00")
    assert (meal["subsidy"], meal["paid"]) == (250, 1250)
    empty = canteens.meal(client, till, second, "15.00")
    assert (empty["decision"], empty["subsidy"], empty["paid"]) == ("approve", 0, 1500)
    assert canteens.budget(SHINAN) == 0


def test_a_short_budget_declines_the_meal_under_the_refuse_rule(canteens: Canteens) -> None:
    till = canteens.canteen("sn-yanan", SHINAN, budget=250)
    diner = canteens.diner(AGED_75)
    policy = service.policy_on(dt.date(2025, 3, 10)).model_copy(
        update={"budget_shortfall": "refuse"}
    )
    with canteens.node.transaction() as session:
        terminal = acquiring.get_terminal(session, till.terminal_no)
        meal = service.serve_meal(
            session, terminal, terminal_seq=1, price=1500, card_no=diner.card_no, policy=policy
        )
        assert (meal.status.value, meal.reason, meal.subsidy, meal.paid) == (
            "declined",
            "subsidy-budget-short",
            0,
            0,
        )
        assert session.get(DailyGrant, (diner.resident_id, dt.date(2025, 3, 10))).granted == 0
    assert canteens.card_balance(diner) == 10_000
    assert canteens.budget(SHINAN) == 250


def test_a_card_without_the_money_is_declined_and_nothing_is_granted(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75, fin=500)
    meal = canteens.meal(client, till, diner, "15.00")
    assert (meal["decision"], meal["reason"], meal["subsidy"], meal["paid"]) == (
        "decline",
        "insufficient-funds",
        0,
        0,
    )
    assert canteens.budget(SHINAN) == 1_000_000
    assert canteens.card_balance(diner) == 500
    # The day's entitlement is untouched: a meal it can pay for still gets all of it.
    assert canteens.meal(client, till, diner, "10.00")["subsidy"] == 600


def test_a_retried_request_is_the_same_meal_charged_once(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    first = canteens.meal(client, till, diner, "15.00", seq=7)
    again = canteens.meal(client, till, diner, "15.00", seq=7)
    assert again["meal_id"] == first["meal_id"]
    assert canteens.card_balance(diner) == 10_000 - 900
    assert canteens.budget(SHINAN) == 1_000_000 - 600
    other_price = send(
        client, till, MEALS, {"terminal_seq": 7, "card_no": diner.card_no, "amount": "9.00"}
    )
    assert other_price.status_code == 409


def test_an_essc_payment_code_identifies_the_diner(canteens: Canteens, client: TestClient) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    with canteens.node.transaction() as session:
        account = essc_service.bind_account(
            session, diner.resident_id, f"app-{diner.resident_id}", actor=STAFF
        )
        essc_service.set_pin(session, account.id, "135790")
        code = essc_service.issue_qr(session, diner.resident_id, "L2", pin="135790").text
    response = send(client, till, MEALS, {"terminal_seq": 1, "qr": code, "amount": "15"})
    assert response.status_code == 200
    assert (response.json()["card_no"], response.json()["subsidy"]) == (diner.card_no, 600)


def test_a_reversal_returns_the_money_the_subsidy_and_the_entitlement(
    canteens: Canteens, client: TestClient, auth: object
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    meal = canteens.meal(client, till, diner, "15.00")
    headers = auth("clerk")  # type: ignore[operator]
    path = f"/api/v1/canteens/meals/{meal['meal_id']}/reversal"
    undone = client.post(path, json={"reason": "wrong dish"}, headers=headers)
    assert undone.status_code == 200 and undone.json()["status"] == "reversed"
    assert canteens.card_balance(diner) == 10_000
    assert canteens.budget(SHINAN) == 1_000_000
    assert canteens.settlement("sn-yanan") == 0
    twice = client.post(path, json={"reason": "again"}, headers=headers)
    assert twice.status_code == 409
    assert canteens.meal(client, till, diner, "15.00")["subsidy"] == 600  # entitlement is back


def test_a_wholly_subsidised_meal_reverses_without_a_card_refund(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    meal = canteens.meal(client, till, diner, "5.00")
    assert (meal["subsidy"], meal["paid"]) == (500, 0)
    with canteens.node.transaction() as session:
        service.reverse_meal(session, int(meal["meal_id"]), reason="not eaten", actor=STAFF)  # type: ignore[call-overload]
    assert canteens.budget(SHINAN) == 1_000_000
    assert canteens.card_balance(diner) == 10_000


def test_bad_till_input_is_refused_and_changes_nothing(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    for body in (
        {"terminal_seq": 1, "card_no": diner.card_no, "amount": "abc"},
        {"terminal_seq": 2, "card_no": diner.card_no, "amount": "0"},
        {"terminal_seq": 3, "card_no": diner.card_no, "amount": "-5"},
        {"terminal_seq": 4, "card_no": diner.card_no, "amount": "1.234"},
        {"terminal_seq": 5, "card_no": diner.card_no, "amount": "100.01"},  # above the max price
        {"terminal_seq": 6, "card_no": diner.card_no, "qr": "x", "amount": "10"},
        {"terminal_seq": 0, "card_no": diner.card_no, "amount": "10"},
        {"terminal_seq": 8, "card_no": "12345", "amount": "10"},
    ):
        response = send(client, till, MEALS, body)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    unsigned = client.post(MEALS, json={"terminal_seq": 9, "card_no": diner.card_no, "amount": "9"})
    assert unsigned.status_code == 401
    assert canteens.card_balance(diner) == 10_000
    assert canteens.budget(SHINAN) == 1_000_000
    with canteens.node.transaction() as session:
        assert session.scalar(select(func.count(Meal.id))) == 0


def test_a_terminal_of_another_kind_of_merchant_cannot_serve_meals(
    canteens: Canteens, client: TestClient
) -> None:
    canteens.kit.merchant("qd-shop", "shop")
    shop = canteens.kit.device("SHOP-0001", "qd-shop")
    diner = canteens.diner(AGED_75)
    response = send(
        client, shop, MEALS, {"terminal_seq": 1, "card_no": diner.card_no, "amount": "9"}
    )
    assert response.status_code == 403
    assert canteens.card_balance(diner) == 10_000


def test_outside_the_demo_the_illustrative_policy_is_refused_and_nothing_is_charged(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    diner = canteens.diner(AGED_75)
    canteens.node.settings.demo = False
    response = send(
        client, till, MEALS, {"terminal_seq": 1, "card_no": diner.card_no, "amount": "9"}
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("policy-invalid")
    assert canteens.card_balance(diner) == 10_000


def test_unknown_and_lost_cards_are_declined_with_nothing_granted(
    canteens: Canteens, client: TestClient
) -> None:
    till = canteens.canteen("sn-yanan", SHINAN)
    lost = canteens.diner(AGED_75)
    with canteens.node.transaction() as session:
        from yikatong.cards import service as cards_service

        cards_service.report_lost(session, lost.card_no, actor=STAFF, reason="lost on the bus")
    meal = canteens.meal(client, till, lost, "9.00")
    assert meal["decision"] == "decline" and meal["reason"].startswith("card-")  # type: ignore[union-attr]
    assert canteens.budget(SHINAN) == 1_000_000
