"""Demo data of elderly canteens: canteens in three Qingdao districts (市南, 市北, 崂山), each
with a till, district budgets funded, a few struggling elders recorded, and three days of meals
(plus this morning's) by the elderly holders of active cards, one of them reversed.

Every meal goes through ``serve_meal`` as a till would send it, with the clock set to the meal's
time. The tills' private keys are appended to ``data_dir/demo/terminal-keys.tsv``. Loading twice
adds nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random

from yikatong.acquiring import demo as acquiring_demo
from yikatong.acquiring import service as acquiring
from yikatong.canteens import service
from yikatong.canteens.policy import packaged_canteen_policy
from yikatong.cards import service as cards_service
from yikatong.cards.models import CardState
from yikatong.core import clock
from yikatong.core.errors import PolicyError
from yikatong.core.ids import age_on
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.transit.bank import SandboxBank

ACTOR = "demo-loader"
# (code, name, district, address): seed 001 counts 1216 such canteens in Qingdao.
CANTEENS = (
    ("sn-badaguan", "八大关街道长者食堂", "370202", "市南区山海关路"),
    ("sn-jiangning", "江宁路街道老年餐桌", "370202", "市南区江宁路"),
    ("sb-taidong", "台东街道长者食堂", "370203", "市北区台东三路"),
    ("sb-dengzhou", "登州路街道老年餐桌", "370203", "市北区登州路"),
    ("ls-zhonghan", "中韩街道长者食堂", "370212", "崂山区海尔路"),
)
BUDGET = 20_000_000  # fen per district (200 000 yuan)
DINERS = 40
DAYS = 3
PRICES = (1000, 1200, 1500, 1800)  # fen: a set lunch
DEPOSIT = 50_000  # fen into each diner's financial account (500 yuan)
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL).astimezone(dt.UTC)


def till_no(code: str) -> str:
    return f"CANTEEN-{code.upper()}"[:32]


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    real_now = clock.now()
    today = real_now.astimezone(_LOCAL).date()
    try:
        policy = packaged_canteen_policy(node.city_code, today, allow_illustrative=True)
    except PolicyError:
        return {}  # no canteen policy for this city or year: no canteen demo
    with node.transaction() as session:
        if service.list_canteens(session):
            return {"canteens": len(service.list_canteens(session))}
        keys: dict[str, bytes] = {}
        for code, name, district, address in CANTEENS:
            service.register_canteen(
                session, code=code, name=name, district_code=district, address=address, actor=ACTOR
            )
            _, private = acquiring.register_terminal(
                session, terminal_no=till_no(code), merchant_code=code
            )
            assert private is not None
            keys[till_no(code)] = private
        for district in sorted({c[2] for c in CANTEENS}):
            service.fund_budget(
                session,
                district,
                amount=BUDGET,
                reference=f"青民助餐〔{today.year}〕{district}",
                actor=ACTOR,
            )
        cards = cards_service.list_cards(session, state=CardState.ACTIVE, limit=1000)
        diners: list[tuple[str, int]] = []
        for card in cards:
            resident = registry.get_resident(session, card.resident_id)
            if resident.status == "active" and age_on(resident.birth_date, today) >= 60:
                diners.append((card.card_no, card.resident_id))
            if len(diners) >= DINERS:
                break
        struggling = 0
        for _card_no, resident_id in diners[::5]:
            service.grant_struggling(
                session,
                resident_id,
                reference=f"低保证{resident_id:06d}",
                valid_from=today - dt.timedelta(days=365),
                valid_until=None,
                actor=ACTOR,
            )
            struggling += 1
        bank = SandboxBank()
        for card_no, _resident in diners:
            bank.deposit(
                session, card_no=card_no, amount=DEPOSIT, reference=f"demo-canteen-{card_no}"
            )
    path = node.settings.data_dir / "demo" / acquiring_demo.KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for terminal_no, private in keys.items():
            out.write(f"{terminal_no}\tEd25519\t{private.hex()}\n")
    figures = {"canteens": len(CANTEENS), "struggling": struggling, "meals": 0, "declined": 0}
    figures["subsidy_fen"] = 0
    seqs = {till_no(c[0]): itertools.count(1) for c in CANTEENS}
    fixed = clock.FixedClock(real_now)
    last_meal: int | None = None
    with clock.clock_override(fixed):
        for offset in range(DAYS, -1, -1):
            day = today - dt.timedelta(days=offset)
            for card_no, _resident in diners:
                if rng.random() < 0.35:
                    continue  # ate at home
                at = _at(day, 11, rng.randint(0, 59))
                if at > real_now:
                    continue
                canteen = rng.choice(CANTEENS)
                fixed.set(at)
                with node.transaction() as session:
                    terminal = acquiring.get_terminal(session, till_no(canteen[0]))
                    meal = service.serve_meal(
                        session,
                        terminal,
                        terminal_seq=next(seqs[terminal.terminal_no]),
                        price=rng.choice(PRICES),
                        card_no=card_no,
                        policy=policy,
                    )
                    figures[
                        "meals" if meal.status is service.MealStatus.APPROVED else "declined"
                    ] += 1
                    figures["subsidy_fen"] += meal.subsidy
                    if meal.status is service.MealStatus.APPROVED:
                        last_meal = meal.id
        if last_meal is not None:
            with node.transaction() as session:
                meal = service.reverse_meal(
                    session, last_meal, reason="diner left before eating", actor=ACTOR
                )
                figures["subsidy_fen"] -= meal.subsidy
                figures["meals"] -= 1
            figures["reversed"] = 1
    return figures
