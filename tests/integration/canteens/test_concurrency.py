"""Tills serving the same elder at the same moment grant at most one day's entitlement, and
many elders at once never overdraw a district budget (threads with their own sessions)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from tests.integration.canteens.conftest import AGED_75, SHINAN, Canteens
from yikatong.acquiring import service as acquiring
from yikatong.canteens import service
from yikatong.canteens.models import Meal, MealStatus


def _at_once(jobs: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(jobs))

    def run(job: Callable[[], None]) -> None:
        try:
            start.wait()
            job()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _serve(canteens: Canteens, till: str, card_no: str, seq: int, price: int) -> None:
    with canteens.node.transaction() as session:
        terminal = acquiring.get_terminal(session, till)
        service.serve_meal(session, terminal, terminal_seq=seq, price=price, card_no=card_no)


def test_one_elder_at_several_tills_at_once_gets_one_day_of_subsidy(canteens: Canteens) -> None:
    tills = [canteens.canteen(f"sn-{i}", SHINAN, budget=0 if i else 1_000_000) for i in range(4)]
    diner = canteens.diner(AGED_75)
    errors = _at_once(
        [
            lambda t=t.terminal_no: _serve(canteens, t, diner.card_no, 1, 500)  # type: ignore[misc]
            for t in tills
        ]
    )
    assert errors == []
    with canteens.node.transaction() as session:
        subsidies = list(session.scalars(select(Meal.subsidy)))
    assert len(subsidies) == 4 and sum(subsidies) == 600  # 6 yuan a day in Shinan
    assert canteens.budget(SHINAN) == 1_000_000 - 600
    assert canteens.card_balance(diner) == 10_000 - (4 * 500 - 600)


def test_many_elders_at_once_never_overdraw_the_district_budget(canteens: Canteens) -> None:
    tills = [canteens.canteen(f"sn-{i}", SHINAN, budget=0) for i in range(6)]
    with canteens.node.transaction() as session:
        service.fund_budget(session, SHINAN, amount=2_000, reference="small", actor="test")
    diners = [canteens.diner(AGED_75) for _ in range(6)]
    errors = _at_once(
        [
            lambda t=till.terminal_no, c=diner.card_no: _serve(canteens, t, c, 1, 1500)  # type: ignore[misc]
            for till, diner in zip(tills, diners, strict=True)
        ]
    )
    assert errors == []
    with canteens.node.transaction() as session:
        granted = session.scalar(
            select(func.sum(Meal.subsidy)).where(Meal.status == MealStatus.APPROVED)
        )
    assert granted == 2_000  # the budget paid what it held, never more (partial rule)
    assert canteens.budget(SHINAN) == 0
